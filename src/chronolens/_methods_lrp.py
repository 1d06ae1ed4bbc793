"""The built-in LRP methods' entries (part of ``BUILTIN``)."""

from __future__ import annotations

from chronolens.attribution import lrp
from chronolens.method_spec import MethodSpec

SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="lrp",
        fn=lrp.lrp,
        family="gradient",
        summary="Layer-wise relevance propagation: the score handed back layer by layer (zennit's "
        "composites).",
        needs_rules=True,
        calls_at_input=True,
        meaning="relevance of each value: the score redistributed by per-layer rules (Bach et al. "
        "2015), sums to the score up to what biases absorb",
        key_params='`composite="epsilon_plus"` (or `"epsilon_plus_flat"`, '
        '`"epsilon_alpha2_beta1"`, `"epsilon_alpha2_beta1_flat"`, `"epsilon_gamma_box"`), '
        "`epsilon=1e-6`, `gamma=0.25`, `low`, `high`",
        extras={
            "composite": "the composite used",
            "rules": "the rule each layer got, by layer name (batch norms: the layer they were "
            "merged into)",
            "relevance_sum": "per case: the sum of the map",
            "score": "per case: the explained score (conservation: relevance_sum vs score)",
        },
        test_params={"composite": "epsilon_plus"},
    ),
)
