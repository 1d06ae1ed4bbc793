"""GradientSHAP against Captum (exact where the draws cannot matter), a literal loop over the
recorded draws, and completeness in expectation."""

import numpy as np
import pytest
import torch
from captum.attr import GradientShap, IntegratedGradients
from torch import nn

import chronolens as cl
from chronolens.testing import linear_model, tiny_conv_model


def test_linear_model_equals_captum_and_the_closed_form():
    # For a linear model the gradient is W at every point, so each draw gives W * (x - b):
    # Captum's draws and ours cannot differ in the result.
    model = linear_model(n_channels=2, n_timepoints=15, n_classes=3, seed=4).eval()
    x = np.random.default_rng(0).normal(size=(4, 2, 15)).astype(np.float32)
    baseline = np.random.default_rng(1).normal(size=(1, 2, 15)).astype(np.float32)
    exp = cl.explain(model, x, "gradient_shap", target=2, background=baseline, n_samples=7)
    expected = GradientShap(model).attribute(
        torch.from_numpy(x), baselines=torch.from_numpy(baseline), target=2, n_samples=7
    )
    np.testing.assert_allclose(exp.attributions, expected.numpy(), rtol=1e-5, atol=1e-6)
    weight = model[1].weight[2].detach().numpy().reshape(2, 15)
    np.testing.assert_allclose(exp.attributions, weight * (x - baseline), rtol=1e-5, atol=1e-6)


def test_cnn_is_the_literal_mean_over_the_recorded_draws():
    model = tiny_conv_model(n_channels=3, n_classes=2, seed=2).eval()
    x = np.random.default_rng(2).normal(size=(3, 3, 30)).astype(np.float32)
    background = np.random.default_rng(3).normal(size=(5, 3, 30)).astype(np.float32)
    exp = cl.explain(
        model, x, "gradient_shap", target=1, background=background, n_samples=6, seed=11
    )
    alphas, index = exp.extras["alphas"], exp.extras["background_index"]
    expected = np.zeros(x.shape)
    for i in range(3):
        for s in range(6):
            base = torch.from_numpy(background[index[s]])
            point = (base + float(alphas[s]) * (torch.from_numpy(x[i]) - base))[None]
            point.requires_grad_(True)
            (grad,) = torch.autograd.grad(model(point)[0, 1], point)
            expected[i] += (grad[0] * (torch.from_numpy(x[i]) - base)).numpy() / 6
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-6)
    again = cl.explain(
        model, x, "gradient_shap", target=1, background=background, n_samples=6, seed=11
    )
    np.testing.assert_array_equal(again.attributions, exp.attributions)


def test_expected_gradients_sum_to_the_score_gap_on_average():
    # Averaged over many alphas, one baseline: Integrated Gradients, whose sum is f(x) - f(b).
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(80, 2))
    model.eval()
    x = np.random.default_rng(4).normal(size=(2, 2, 20)).astype(np.float32)
    exp = cl.explain(model, x, "gradient_shap", target=0, n_samples=4000, seed=0)
    with torch.no_grad():
        gap = model(torch.from_numpy(x))[:, 0] - model(torch.zeros(1, 2, 20))[0, 0]
    np.testing.assert_allclose(exp.attributions.sum(axis=(1, 2)), gap.numpy(), rtol=0.03)
    ig = IntegratedGradients(model).attribute(torch.from_numpy(x), target=0, n_steps=200)
    scale = np.abs(ig.numpy()).max()
    assert np.abs(exp.attributions - ig.numpy()).max() < 0.05 * scale


def test_noise_and_bad_background():
    model = linear_model(n_channels=2, n_timepoints=15, n_classes=2, seed=1).eval()
    x = np.zeros((2, 2, 15), np.float32)
    plain = cl.explain(model, x, "gradient_shap", target=0, n_samples=5, seed=0)
    noisy = cl.explain(model, x, "gradient_shap", target=0, n_samples=5, seed=0, stdevs=0.5)
    assert np.abs(plain.attributions).max() == 0 and np.abs(noisy.attributions).max() > 0
    with pytest.raises(ValueError, match=r"`background` must be reference series"):
        cl.explain(model, x, "gradient_shap", background=np.zeros((3, 15)))


def test_background_in_channels_last_layout():
    model = linear_model(n_channels=2, n_timepoints=15, n_classes=2, seed=1).eval()
    x = np.random.default_rng(5).normal(size=(2, 2, 15)).astype(np.float32)
    background = np.random.default_rng(6).normal(size=(3, 2, 15)).astype(np.float32)
    options = {"target": 0, "n_samples": 4, "seed": 3}
    ncl = cl.explain(model, x, "gradient_shap", background=background, **options)
    nlc = cl.explain(
        model,
        x.transpose(0, 2, 1),
        "gradient_shap",
        background=background.transpose(0, 2, 1),
        layout="nlc",
        **options,
    )
    np.testing.assert_allclose(nlc.attributions, ncl.attributions, rtol=1e-6)
