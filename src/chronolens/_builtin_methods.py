"""The built-in methods: one :class:`~chronolens.method_spec.MethodSpec` entry each.

Adding a method to chronolens is one function (in :mod:`chronolens.attribution`) and one entry here;
a method of your own is one function and one call of :func:`chronolens.register`.
"""

from __future__ import annotations

from chronolens._methods_lrp import SPECS as LRP_SPECS
from chronolens._methods_masks import SPECS as MASK_SPECS
from chronolens._methods_propagation import SPECS as PROPAGATION_SPECS
from chronolens.attribution import (
    ablation,
    ablation_cam,
    attention,
    cam,
    cam_variants,
    channel_cam,
    dcam,
    gradient_shap,
    gradients,
    integrated_gradients,
    lime,
    occlusion,
    rescaling,
    self_explaining,
    shap,
    timing,
)
from chronolens.method_spec import MethodSpec

#: What every CAM-family method records.
CAM_EXTRAS = {
    "layer": "the layer read",
    "alignment": "how its positions were placed in input time",
    "layer_centers": "receptive-field centre of each layer position",
    "layer_map": "per case: the map on the layer's own positions",
}

CORE: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="saliency",
        fn=gradients.saliency,
        family="gradient",
        summary="Absolute (or signed) gradient of the score: local sensitivity.",
        calls_at_input=True,
        meaning="\\|d score / d x\\|: local sensitivity (Simonyan et al. 2014)",
        key_params="`abs=True`",
    ),
    MethodSpec(
        name="input_x_gradient",
        fn=gradients.input_x_gradient,
        family="gradient",
        summary="Input times gradient: first-order contribution, signed.",
        calls_at_input=True,
        meaning="x * gradient: first-order contribution, signed",
        key_params="",
    ),
    MethodSpec(
        name="smoothgrad",
        fn=gradients.smoothgrad,
        family="gradient",
        summary="Gradient averaged over noisy copies: less jitter.",
        meaning="gradient averaged over noisy copies (Smilkov et al. 2017)",
        key_params="`noise_level=0.15` (of each case's range), `n_samples=25`, `abs=True`, `seed`",
        extras={
            "seed": "the seed of the noise",
            "noise_std": "per case: the noise standard deviation",
        },
        test_params={"n_samples": 3},
    ),
    MethodSpec(
        name="gradient_shap",
        fn=gradient_shap.gradient_shap,
        family="gradient",
        summary="Expected gradients from random baselines (GradientSHAP): SHAP values in expectation.",
        meaning="(x - b) x gradient at a random point towards random baselines b (Lundberg & Lee 2017)",
        key_params='`n_samples=50`, `stdevs=0.0`, `baseline="zeros"`, `background`, `seed`',
        extras={
            "seed": "the seed of the draws",
            "alphas": "the points drawn in [0, 1], one per sample",
            "background_index": "with `background`: the reference series drawn, one per sample",
        },
        test_params={"n_samples": 3},
    ),
    MethodSpec(
        name="integrated_gradients",
        fn=integrated_gradients.integrated_gradients,
        family="gradient",
        summary="Path integral of gradients from a baseline: sums to the score change.",
        meaning="share of f(x) - f(baseline), signed; sums to it (Sundararajan et al. 2017)",
        key_params='`baseline="zeros"\\|"mean"\\|array`, `n_steps=50`, `rule="gausslegendre"\\|"riemann_*"`, `tolerance`, `max_steps`',
        extras={
            "baseline": "per case: the baseline series",
            "convergence_delta": "per case: sum of the map minus f(x) - f(baseline)",
            "n_steps_used": "per case: integration steps used",
        },
        test_params={"n_steps": 8},
        demo_params={"n_steps": 32},
        report_params={"n_steps": 32},
    ),
    MethodSpec(
        name="timing",
        fn=timing.timing,
        family="gradient",
        summary="Integrated gradients with random temporal segments held at the input (TIMING).",
        meaning="integrated gradients over the path steps on which each point moves, random "
        "segments held at the input (Jang et al. 2025); |map| by default",
        key_params="`n_steps=50`, `n_segments=50`, `min_length=10`, `max_length`, `baseline`",
        extras={
            "channel": "per path step and segment: the channel held at the input",
            "start": "per path step and segment: its first point",
            "length": "per path step and segment: its length",
            "min_length": "the shortest segment length used",
            "max_length": "the longest segment length used",
        },
        test_params={"n_steps": 6, "n_segments": 3, "min_length": 2},
        demo_params={"n_steps": 32},
    ),
    MethodSpec(
        name="cam",
        fn=cam.cam,
        family="cam",
        summary="Class activation map of a global-average-pooling + linear network.",
        meaning="class weights x features of a GAP + linear network (Zhou et al. 2016)",
        key_params="`layer`",
        extras={
            **CAM_EXTRAS,
            **{"class_weights": "per case: the linear layer's weights of the target class"},
        },
    ),
    MethodSpec(
        name="grad_cam",
        fn=cam.grad_cam,
        family="cam",
        summary="Layer features weighted by mean gradient: when the evidence occurs.",
        calls_at_input=True,
        meaning="features weighted by mean gradient (Selvaraju et al. 2017)",
        key_params="`layer`, `relu=True`",
        extras=CAM_EXTRAS,
    ),
    MethodSpec(
        name="grad_cam_pp",
        fn=cam.grad_cam_pp,
        family="cam",
        summary="Grad-CAM++: better with several events per series.",
        calls_at_input=True,
        meaning="Grad-CAM++ weights (Chattopadhay et al. 2018)",
        key_params="`layer`",
        extras=CAM_EXTRAS,
    ),
    MethodSpec(
        name="layer_cam",
        fn=cam.layer_cam,
        family="cam",
        summary="Per-position positive gradients times features: sharper on early layers.",
        calls_at_input=True,
        meaning="positive gradient x feature per position (Jiang et al. 2021)",
        key_params="`layer`",
        extras=CAM_EXTRAS,
    ),
    MethodSpec(
        name="score_cam",
        fn=cam.score_cam,
        family="cam",
        summary="Features weighted by the score of the input they mask: gradient-free.",
        needs_gradients=False,
        meaning="features weighted by the score of the input they mask (Wang et al. 2020)",
        key_params="`layer`",
        extras=CAM_EXTRAS,
    ),
    MethodSpec(
        name="xgrad_cam",
        fn=cam_variants.xgrad_cam,
        family="cam",
        summary="Filters weighted by activation-weighted gradients (XGrad-CAM).",
        calls_at_input=True,
        meaning="filters weighted by sum_t G A / sum_t A (Fu et al. 2020)",
        key_params="`layer`",
        extras=CAM_EXTRAS,
    ),
    MethodSpec(
        name="hires_cam",
        fn=cam_variants.hires_cam,
        family="cam",
        summary="Gradient times activation per position, summed over filters (HiRes-CAM).",
        calls_at_input=True,
        meaning="gradient x feature per position, summed over filters (Draelos & Carin 2020)",
        key_params="`layer`",
        extras=CAM_EXTRAS,
    ),
    MethodSpec(
        name="eigen_cam",
        fn=cam_variants.eigen_cam,
        family="cam",
        summary="First principal component of the layer over time: class-agnostic, no gradients.",
        needs_gradients=False,
        meaning="the layer's first principal component over time, the same for every class "
        "(Muhammad & Yeasin 2020)",
        key_params="`layer`",
        extras=CAM_EXTRAS,
    ),
    MethodSpec(
        name="ablation_cam",
        fn=ablation_cam.ablation_cam,
        family="cam",
        summary="Filters weighted by the score drop when each is ablated: gradient-free.",
        needs_gradients=False,
        meaning="filters weighted by the relative score drop when each is zeroed "
        "(Desai & Ramaswamy 2020)",
        key_params='`layer`, `ablation="zero"`',
        extras={**CAM_EXTRAS, "filter_weights": "per case: each filter's weight (y - y_k) / y"},
    ),
    MethodSpec(
        name="channel_grad_cam",
        fn=channel_cam.channel_grad_cam,
        family="cam",
        summary="Each channel's share of the Grad-CAM map (channel ablation): when and which sensor.",
        per_channel=True,
        meaning="each input channel's share of the Grad-CAM map (channel ablation): when *and* which sensor",
        key_params='`layer`, `baseline="mean"`, `relu=False`',
        extras={
            **CAM_EXTRAS,
            **{
                "channel_layer_map": "per case: each channel's contribution on the layer's positions"
            },
        },
    ),
    MethodSpec(
        name="occlusion",
        fn=occlusion.occlusion,
        family="perturbation",
        summary="Score drop when a sliding window is replaced: any model.",
        meaning="score drop when a sliding window is replaced (Zeiler & Fergus 2014); any model",
        key_params='`window=15`, `stride=min(5, window)`, `channels="each"\\|"all"`, `baseline`',
        extras={
            "occlusion_path": "'incremental-chain', 'incremental-graph' or 'full': which engine ran",
            "n_windows": "number of windows",
            "window_drops": "per case: the score drop of every window",
        },
        test_params={"window": 8, "stride": 4},
    ),
    MethodSpec(
        name="feature_ablation",
        fn=ablation.feature_ablation,
        family="perturbation",
        summary="Score drop when a time segment is replaced: any model.",
        meaning="score drop when a time segment is replaced; any model",
        key_params="`n_segments=10`, `channels`, `baseline`",
        extras={
            "occlusion_path": "'incremental-chain', 'incremental-graph' or 'full': which engine ran",
            "segment_edges": "the segments' edges",
            "segment_drops": "per case: the score drop of every segment",
        },
        test_params={"n_segments": 5},
    ),
    MethodSpec(
        name="shapley",
        fn=shap.shapley,
        family="perturbation",
        summary="Shapley values of segment x channel players (exact or Kernel SHAP).",
        meaning="Shapley values of segment x channel players, exact up to 12 players, Kernel SHAP beyond (Lundberg & Lee 2017); any model",
        key_params="`n_segments=10`, `channels`, `baseline`, `n_samples=1000`",
        extras={
            "exact": "True when all coalitions were enumerated",
            "n_players": "number of players",
            "base_value": "per case: f(baseline)",
            "player_values": "per case: each player's Shapley value",
        },
        test_params={"n_samples": 48, "n_segments": 5},
        demo_params={"n_samples": 128},
    ),
    MethodSpec(
        name="lime",
        fn=lime.lime,
        family="perturbation",
        summary="A kernel-weighted ridge surrogate over segment x channel players (LIME).",
        meaning="each segment x channel player's coefficient in a locally weighted ridge "
        "surrogate (Ribeiro et al. 2016); any model",
        key_params="`n_segments=10`, `channels`, `baseline`, `n_samples=1000`, "
        "`kernel_width=0.25`, `alpha=1.0`",
        extras={
            "n_players": "number of players",
            "player_values": "per case: each player's surrogate coefficient",
            "intercept": "per case: the surrogate's intercept",
        },
        test_params={"n_samples": 48, "n_segments": 5},
        demo_params={"n_samples": 256},
    ),
    MethodSpec(
        name="tsr",
        fn=rescaling.tsr,
        family="perturbation",
        summary="Temporal saliency rescaling of any method (base=...): time x channel relevance.",
        wraps="base",
        meaning="temporal saliency rescaling of any other method (Ismail et al. 2020)",
        key_params='`base="saliency"`, `base_params`, `window=1`, `threshold=0.55`',
        extras={
            "base": "the base method",
            "window": "time steps masked together",
            "time_relevance": "per case: relevance of each time step",
            "feature_relevance": "per case: relevance of each (channel, time step)",
        },
        test_params={"window": 10},
        demo_params={"window": 20},
    ),
    MethodSpec(
        name="dcam",
        fn=dcam.dcam,
        family="cam",
        summary="Dimension-wise CAM of a d-CNN / d-ResNet (zoo.dcnn): channel x time from permutations.",
        per_channel=True,
        layer_rank=4,
        meaning="dimension-wise CAM of a d-CNN / d-ResNet from random channel orders (Boniol et al. 2022)",
        key_params="`n_permutations=100`, `only_correct=True`, `layer`, `seed`",
        extras={
            **CAM_EXTRAS,
            **{
                "n_permutations": "channel orders drawn",
                "permutation_success": "per case: share of the orders classified as the target",
                "n_permutations_used": "per case: orders averaged",
            },
        },
        test_params={"n_permutations": 4},
    ),
    MethodSpec(
        name="mil",
        fn=self_explaining.mil,
        family="self_explaining",
        summary="The model's own interpretation from its multiple-instance head (zoo.mil).",
        needs_gradients=True,
        needs_layer=False,
        per_channel=True,  # (n, c, t) for zoo.mil_channels; one shared row for zoo.mil
        meaning="a MILLET head's own class contributions, exact: over time (zoo.mil, shared by "
        "the channels) or channel x time (zoo.mil_channels) (Early et al. 2024)",
        key_params="",
        extras={
            "layer": "the head layer read (its interpretation, or its attention)",
            "alignment": "how its positions were placed in input time",
            "layer_centers": "receptive-field centre of each layer position",
            "layer_map": "per case: the map on the layer's positions (exact: its mean is the score)",
            "pooling": "the head's pooling: instance, conjunctive, additive or attention",
            "exact": "whether the layer map decomposes the score exactly (not for attention)",
            "class_agnostic": "True for attention pooling: the weights are the same for every class",
        },
    ),
    MethodSpec(
        name="attention",
        fn=attention.attention,
        family="attention",
        summary="The attention weights of a model that attends over time (zoo.attention_rnn).",
        needs_gradients=False,
        needs_layer=False,
        per_channel=False,
        meaning="the model's own attention weights over time, class-agnostic (Bahdanau et al. 2015)",
        key_params="`attention_layer`",
        extras={
            "layer": "the attention layer read (name ending in 'attention_weights')",
            "alignment": "how its positions were placed in input time (identity for an RNN)",
            "layer_centers": "input time of each attention position",
            "layer_map": "per case: the weights on the layer's own positions",
            "class_agnostic": "always True: the weights are the same for every class",
        },
    ),
)

#: Every built-in method, in the order ``chronolens.methods()`` lists them. The propagation, LRP
#: and learned-mask entries live in their own files.
BUILTIN: tuple[MethodSpec, ...] = (*CORE, *PROPAGATION_SPECS, *LRP_SPECS, *MASK_SPECS)
