"""The built-in propagation methods' entries (part of ``BUILTIN``)."""

from __future__ import annotations

from chronolens.attribution import deeplift, guided
from chronolens.method_spec import MethodSpec

SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="deeplift",
        fn=deeplift.deeplift,
        family="gradient",
        needs_rules=True,
        summary="DeepLIFT (rescale rule): each value's share of f(x) - f(baseline).",
        meaning=(
            "(x - b) x multipliers of output over input differences per nonlinearity; sums to "
            "f(x) - f(b) (Shrikumar et al. 2017)"
        ),
        key_params='`baseline="zeros"\\|"mean"\\|"blur"\\|array`',
        extras={
            "baseline": "per case: the reference series",
            "delta": "per case: sum of the map minus f(x) - f(baseline)",
        },
    ),
    MethodSpec(
        name="deeplift_shap",
        fn=deeplift.deeplift_shap,
        family="gradient",
        needs_rules=True,
        summary="DeepLIFT averaged over reference series (DeepLIFT-SHAP): sums to f(x) - E[f(r)].",
        meaning=(
            "DeepLIFT averaged over a background of references r; sums to f(x) - E[f(r)] "
            "(Lundberg & Lee 2017)"
        ),
        key_params='`background`, `n_samples`, `baseline="zeros"`, `stdevs=0.0`, `seed`',
        extras={
            "seed": "the seed of the draws",
            "background_index": "with `background` and `n_samples`: the references drawn",
            "baseline": "without `background`: the baseline the references are drawn around",
            "n_references": "references per case",
            "delta": "per case: sum of the map minus f(x) - mean f(r)",
            "expected_reference_score": "per case: mean f(r) over the references",
        },
        test_params={"n_samples": 2, "stdevs": 0.1},
    ),
    MethodSpec(
        name="guided_backprop",
        fn=guided.guided_backprop,
        family="gradient",
        needs_rules=True,
        calls_at_input=True,
        summary="Gradient with ReLUs passing back only positive signals: sharp, class-blind.",
        meaning=(
            "gradient where each ReLU passes back only positive gradients of active units "
            "(Springenberg et al. 2015)"
        ),
        key_params="",
    ),
    MethodSpec(
        name="deconvnet",
        fn=guided.deconvnet,
        family="gradient",
        needs_rules=True,
        calls_at_input=True,
        summary="Gradient with ReLUs passing back the positive part of what arrives (deconvnet).",
        meaning=(
            "gradient where each ReLU passes back the positive part of the arriving gradient "
            "(Zeiler & Fergus 2014)"
        ),
        key_params="",
    ),
)
