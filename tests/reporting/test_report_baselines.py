"""The report's faithfulness table shows each baseline method's rank agreement across baselines.

Reference: ``chronolens.baseline_sensitivity`` called directly on the same cases, target,
parameters and seed.
"""

import numpy as np
import pytest

import chronolens as cl
from chronolens.testing import tiny_conv_model

from .test_report import payload


def test_baseline_methods_show_their_agreement_and_others_say_why_not(tmp_path):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    x = np.random.default_rng(0).normal(size=(6, 3, 40)).astype(np.float32)
    path = cl.report(
        model,
        x,
        methods={"integrated_gradients": {"n_steps": 8}, "saliency": {}},
        metric_cases=4,
        sanity=False,
        prototypes=False,
        out=tmp_path / "report.html",
    )
    table = {row["label"]: row for row in payload(path)["faithfulness"]["table"]}
    ig = next(row for label, row in table.items() if "integrated" in label)
    sal = next(row for label, row in table.items() if "saliency" in label)
    target = cl.explain(model, x[:4], "saliency").target
    direct = cl.baseline_sensitivity(
        model, x[:4], "integrated_gradients", n_steps=8, target=target, seed=0
    )
    assert ig["baselineAgreement"] == pytest.approx(float(np.mean(direct.agreement)), abs=1e-3)
    assert ig["baselineNote"] == "baselines zeros, mean, blur"
    assert sal["baselineAgreement"] is None
    assert "no baseline" in sal["baselineNote"]
