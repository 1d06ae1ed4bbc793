"""Integrated Gradients against Captum, closed forms and the completeness axiom."""

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

import chronolens as cl
from chronolens import zoo
from chronolens.attribution._quadrature import quadrature


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
    expected = (
        IntegratedGradients(user_model)
        .attribute(
            torch.from_numpy(user_x),
            baselines=torch.from_numpy(baseline),
            target=torch.as_tensor(exp.target),
            n_steps=20,
        )
        .numpy()
    )
    # Captum runs all 20 steps in one batch, chronolens in its own chunks: convolutions round
    # differently per batch size, which can flip a max-pool's choice between near-equal values
    # and move one gradient path (seen on 17 of 16,200 points, 8e-6 against a map scale of
    # ~1e-3). Points must agree to 0.5 % of the map's scale, and almost all of them to 1e-6.
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-3, atol=5e-3 * scale)
    close = np.isclose(exp.attributions, expected, rtol=1e-3, atol=1e-6)
    assert close.mean() > 0.995


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


@pytest.fixture(scope="module")
def trained_user_model():
    from chronolens.datasets import make_sensor_events

    X, y, _ = make_sensor_events(n_cases=128, seed=0)
    model = zoo.conv1d_classifier(9, 300, 4, filters=32, seed=0)
    zoo.fit(model, X, y, epochs=3, batch_size=32, seed=0)
    return model, X[:16]


def _relative_gap(exp):
    change = exp.attributions.sum(axis=(1, 2)) - exp.extras["convergence_delta"]
    return np.abs(exp.extras["convergence_delta"]) / np.abs(change)


def test_completeness_on_user_architecture(trained_user_model):
    """IG sums to f(x) - f(baseline): 64 Gauss-Legendre steps leave a typical gap under 1%.

    ReLU and max-pooling make the integrand jump, so a few cases keep a gap of some percent
    at 64 steps; ``tolerance`` refines exactly those cases until every one is within 1%.
    """
    model, X = trained_user_model
    plain = cl.explain(model, X, "integrated_gradients", n_steps=64)
    assert np.median(_relative_gap(plain)) < 0.01
    refined = cl.explain(model, X, "integrated_gradients", n_steps=64, tolerance=0.01)
    assert _relative_gap(refined).max() < 0.01
    used = refined.extras["n_steps_used"]
    assert used.min() == 64 and used.max() > 64  # only the cases that needed it were refined
    done = used == 64
    np.testing.assert_array_equal(refined.attributions[done], plain.attributions[done])


def test_refinement_equals_a_direct_trapezoid(trained_user_model):
    """The nested doubling gives the same integral as a trapezoid rule on the final grid."""
    model, X = trained_user_model
    refined = cl.explain(
        model, X[:4], "integrated_gradients", n_steps=8, tolerance=1e-9, max_steps=64
    )
    assert (refined.extras["n_steps_used"] == 64).all()
    direct = cl.explain(model, X[:4], "integrated_gradients", n_steps=65, rule="riemann_trapezoid")
    np.testing.assert_allclose(refined.attributions, direct.attributions, rtol=1e-4, atol=1e-6)
