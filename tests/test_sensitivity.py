"""Baseline sensitivity: each map equals explain() with that baseline; agreement is Spearman's.

References: ``chronolens.explain`` run by hand with each baseline (the maps), and
``scipy.stats.spearmanr`` on the flattened magnitudes (the agreement).
"""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

import chronolens as cl


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 24, 3)
    ).eval()


def test_maps_are_explain_per_baseline_and_agreement_is_spearman():
    model = _net()
    x = np.random.default_rng(0).normal(size=(3, 2, 24)).astype(np.float32)
    result = cl.baseline_sensitivity(model, x, "integrated_gradients", n_steps=8, seed=4)
    assert result.baselines == ("zeros", "mean", "blur")
    predicted = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    for name, exp in zip(result.baselines, result.explanations):
        alone = cl.explain(model, x, "integrated_gradients", baseline=name, n_steps=8, seed=4)
        np.testing.assert_allclose(exp.attributions, alone.attributions, rtol=1e-6)
        np.testing.assert_array_equal(exp.target, predicted)
    for case in range(3):
        for i in range(3):
            for j in range(3):
                a = np.abs(result.explanations[i].attributions[case]).ravel()
                b = np.abs(result.explanations[j].attributions[case]).ravel()
                expected = 1.0 if i == j else spearmanr(a, b).statistic
                assert result.pairwise[case, i, j] == pytest.approx(expected, abs=1e-9)
        off = [result.pairwise[case, i, j] for i in range(3) for j in range(3) if i != j]
        assert result.agreement[case] == pytest.approx(np.mean(off))
    assert "rank agreement" in str(result)


def test_a_linear_model_with_equal_baselines_agrees_perfectly():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 24, 2)).eval()
    x = np.random.default_rng(1).normal(size=(2, 2, 24)).astype(np.float32)
    # Two constant baselines: IG of a linear model is w (x - b); with b = 0 and b = x / 2 the
    # magnitudes are proportional, so their ranks agree exactly.
    result = cl.baseline_sensitivity(model, x, baselines=[0.0, x / 2], n_steps=4)
    np.testing.assert_allclose(result.agreement, 1.0)


def test_methods_without_a_baseline_and_single_baselines_are_refused():
    model, x = _net(), np.zeros((1, 2, 24), dtype=np.float32)
    with pytest.raises(ValueError, match="takes no `baseline`.*integrated_gradients"):
        cl.baseline_sensitivity(model, x, "saliency")
    with pytest.raises(ValueError, match="at least two"):
        cl.baseline_sensitivity(model, x, baselines=["zeros"])
    with pytest.raises(ValueError, match="repeats"):
        cl.baseline_sensitivity(model, x, baselines=["zeros", "zeros"])


def test_randomized_methods_also_compare_noise_with_one_seed():
    model = _net()
    x = np.random.default_rng(2).normal(size=(2, 2, 24)).astype(np.float32)
    result = cl.baseline_sensitivity(model, x, "occlusion", window=4, seed=9)
    assert result.baselines[-1] == "noise"
    alone = cl.explain(model, x, "occlusion", window=4, baseline="noise", seed=9)
    np.testing.assert_allclose(result["noise"].attributions, alone.attributions, rtol=1e-6)
