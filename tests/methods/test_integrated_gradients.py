"""Integrated Gradients against Captum, closed forms and the completeness axiom."""

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

import chronolens as cl
from chronolens import zoo
from chronolens.methods._quadrature import quadrature


@pytest.mark.parametrize(
    "rule", ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle"]
)
def test_matches_captum(tiny, tiny_x, rule):
    exp = cl.explain(tiny, tiny_x, "integrated_gradients", n_steps=16, rule=rule)
    expected, delta = IntegratedGradients(tiny).attribute(
        torch.from_numpy(tiny_x),
        target=torch.as_tensor(exp.target),
        n_steps=16,
        method=rule,
        return_convergence_delta=True,
    )
    np.testing.assert_allclose(exp.attributions, expected.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(exp.extras["convergence_delta"], delta.numpy(), atol=1e-4)


def test_matches_captum_on_user_architecture_with_mean_baseline(user_model, user_x):
    exp = cl.explain(user_model, user_x, "integrated_gradients", baseline="mean", n_steps=20)
    baseline = np.broadcast_to(user_x.mean(axis=2, keepdims=True), user_x.shape).copy()
    expected = IntegratedGradients(user_model).attribute(
        torch.from_numpy(user_x),
        baselines=torch.from_numpy(baseline),
        target=torch.as_tensor(exp.target),
        n_steps=20,
    )
    np.testing.assert_allclose(exp.attributions, expected.numpy(), rtol=1e-3, atol=1e-6)


def test_linear_model_is_exact(linear, linear_x):
    weight = linear[1].weight.detach().numpy().reshape(3, 3, 20)
    exp = cl.explain(linear, linear_x, "integrated_gradients", target=1, n_steps=3)
    np.testing.assert_allclose(exp.attributions, weight[1] * linear_x, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(exp.extras["convergence_delta"], 0, atol=1e-4)


def test_array_baseline_in_user_layout(linear, linear_x):
    weight = linear[1].weight.detach().numpy().reshape(3, 3, 20)
    baseline = np.full((3, 20), 0.5, dtype=np.float32)
    exp = cl.explain(linear, linear_x, "integrated_gradients", target=0, baseline=baseline)
    np.testing.assert_allclose(exp.attributions, weight[0] * (linear_x - 0.5), rtol=1e-4, atol=1e-6)
    # The same data and baseline channels-last give the same map.
    nlc = cl.explain(
        linear,
        linear_x.transpose(0, 2, 1),
        "integrated_gradients",
        target=0,
        baseline=baseline.T,
        layout="nlc",
    )
    np.testing.assert_allclose(nlc.attributions, exp.attributions, rtol=1e-6)
    assert nlc.layout == "nlc"


def test_quadrature_rules_integrate_polynomials():
    for rule, degree in [("gausslegendre", 7), ("riemann_trapezoid", 1), ("riemann_middle", 1)]:
        alphas, weights = quadrature(rule, 4)
        assert np.isclose(np.sum(weights * alphas**degree), 1 / (degree + 1))


def test_completeness_on_user_architecture():
    """IG sums to f(x) - f(baseline) within 1% with 64 Gauss-Legendre steps (trained model)."""
    from chronolens.datasets import make_sensor_events

    X, y, _ = make_sensor_events(n_cases=96, seed=0)
    model = zoo.conv1d_classifier(9, 300, 4, filters=32, seed=0)
    zoo.fit(model, X, y, epochs=3, batch_size=32, seed=0)
    exp = cl.explain(model, X[:8], "integrated_gradients", n_steps=64)
    change = exp.attributions.sum(axis=(1, 2)) - exp.extras["convergence_delta"]
    relative = np.abs(exp.extras["convergence_delta"]) / np.abs(change)
    assert relative.max() < 0.01, relative
