"""The built-in learned-mask methods' entries (part of ``BUILTIN``)."""

from __future__ import annotations

from chronolens.attribution import dynamask, extremal_mask
from chronolens.method_spec import MethodSpec

SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="dynamask",
        fn=dynamask.dynamask,
        family="gradient",
        needs_gradients=True,
        needs_layer=False,
        per_channel=True,
        summary="A mask in [0, 1] fitted per case to keep the score under an area constraint.",
        meaning=(
            "mask m minimising (s(perturbed) - s(x))^2 + area penalty ‖sort(m) - r_a‖² "
            "(+ time smoothness), removed points faded to a reference (Crabbé & van der "
            "Schaar 2021)"
        ),
        key_params=(
            '`perturbation="fade_moving_average"`, `keep_ratio=0.5` (or a list: the extremal '
            "mask), `error_threshold`, `n_steps=500`, "
            "`learning_rate=0.1`, `size_reg_factor_init=0.5`, `size_reg_factor_dilation=100`, "
            "`time_reg_factor=0`, `deletion_mode=False`"
        ),
        extras={
            "n_steps": "optimisation steps run",
            "keep_ratio": "the areas a tried (one, or the list given)",
            "perturbation": "the perturbation operator used",
            "final_size_reg_factor": "the area weight at the end of the fit",
            "loss": "per case: the final objective (error, area and time terms weighted)",
            "error": "per case: the final (s(perturbed) - s(x))^2",
            "area_loss": "per case: the final mean (sort(m) - r_a)^2, unweighted",
            "time_loss": "per case: the final mean |m(t+1) - m(t)|, unweighted",
            "selected_keep_ratio": "per case: the area of the mask returned (the extremal one)",
        },
        test_params={"n_steps": 4},
        # Sparse evidence (the demo's events cover 1.3 % of the points): with the default area
        # of one half any half of the points keeps the score and the mask is arbitrary (AP .013,
        # the random map's); the authors' list of areas picks the smallest that keeps it (.109).
        demo_params={"keep_ratio": [0.02, 0.05, 0.1, 0.2, 0.5], "error_threshold": 1e-2},
    ),
    MethodSpec(
        name="extremal_mask",
        fn=extremal_mask.extremal_mask,
        family="gradient",
        needs_gradients=True,
        needs_layer=False,
        per_channel=True,
        summary="A mask in [0, 1] fitted per case with a learned replacement (a GRU) for the rest.",
        meaning=(
            "mask m and network NN minimising (s(x m + (1 - m) NN(x)) - s(x))^2 + λ1 mean\\|m\\| "
            "+ λ2 mean\\|NN(x)\\| (Enguehard 2023)"
        ),
        key_params=(
            "`n_steps=500`, `learning_rate=0.01`, `lambda_1=1`, `lambda_2=1`, `hidden_size`, "
            '`baseline="zeros"`, `seed`'
        ),
        extras={
            "seed": "the seed of the network's initial weights",
            "n_steps": "optimisation steps run",
            "hidden_size": "hidden units of the GRU, each way",
            "loss": "per case: the final objective",
            "error": "per case: the final (s(perturbed) - s(x))^2",
            "mask_loss": "per case: the final lambda_1 mean |m|",
            "perturbation_loss": "per case: the final lambda_2 mean |NN(x - b)|",
            "replacement": "per case: the learned replacement NN(x - b) at the end",
        },
        test_params={"n_steps": 3, "hidden_size": 2},
    ),
)
