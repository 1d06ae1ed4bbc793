"""Gradient methods against Captum and against closed forms on a linear model."""

import numpy as np
import pytest
import torch
from captum.attr import InputXGradient, NoiseTunnel, Saliency

import chronolens as cl


def _captum(model, x, target, attribution, **kwargs):
    inputs = torch.from_numpy(x).requires_grad_(True)
    return attribution.attribute(inputs, target=torch.as_tensor(target), **kwargs).detach().numpy()


@pytest.mark.parametrize("abs_", [True, False])
def test_saliency_matches_captum(tiny, tiny_x, abs_):
    exp = cl.explain(tiny, tiny_x, "saliency", abs=abs_)
    expected = _captum(tiny, tiny_x, exp.target, Saliency(tiny), abs=abs_)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-6)


def test_saliency_matches_captum_on_user_architecture(user_model, user_x):
    exp = cl.explain(user_model, user_x, "saliency", target=2)
    expected = _captum(user_model, user_x, [2] * len(user_x), Saliency(user_model))
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-7)


def test_input_x_gradient_matches_captum(user_model, user_x):
    exp = cl.explain(user_model, user_x, "input_x_gradient")
    expected = _captum(user_model, user_x, exp.target, InputXGradient(user_model))
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-7)


def test_linear_model_closed_forms(linear, linear_x):
    weight = linear[1].weight.detach().numpy().reshape(3, 3, 20)
    target = np.array([0, 1, 2, 1])
    sal = cl.explain(linear, linear_x, "saliency", target=target, abs=False)
    np.testing.assert_allclose(sal.attributions, weight[target], rtol=1e-5)
    ixg = cl.explain(linear, linear_x, "input_x_gradient", target=target)
    np.testing.assert_allclose(ixg.attributions, weight[target] * linear_x, rtol=1e-5, atol=1e-7)
    # The gradient of a linear model is the same everywhere: SmoothGrad changes nothing.
    smooth = cl.explain(linear, linear_x, "smoothgrad", target=target, seed=0, abs=False)
    np.testing.assert_allclose(smooth.attributions, weight[target], rtol=1e-5)


def test_smoothgrad_is_mean_gradient_of_noisy_copies(tiny, tiny_x):
    """A literal re-implementation: draw the same noise and average Captum saliency maps."""
    exp = cl.explain(tiny, tiny_x, "smoothgrad", seed=7, n_samples=6, noise_level=0.2)
    draws = torch.randn((6, *tiny_x.shape[1:]), generator=torch.Generator().manual_seed(7))
    std = 0.2 * (tiny_x.reshape(len(tiny_x), -1).max(1) - tiny_x.reshape(len(tiny_x), -1).min(1))
    expected = np.zeros_like(tiny_x)
    for sample in range(6):
        noisy = tiny_x + std[:, None, None] * draws[sample].numpy()
        expected += _captum(tiny, noisy.astype(np.float32), exp.target, Saliency(tiny)) / 6
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(exp.extras["noise_std"], std, rtol=1e-6)


def test_smoothgrad_seed_reproduces_and_differs(tiny, tiny_x):
    a = cl.explain(tiny, tiny_x, "smoothgrad", seed=1, n_samples=4)
    b = cl.explain(tiny, tiny_x, "smoothgrad", seed=1, n_samples=4)
    c = cl.explain(tiny, tiny_x, "smoothgrad", seed=2, n_samples=4)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert not np.allclose(a.attributions, c.attributions)
    assert a.params["seed"] == 1 and a.extras["seed"] == 1
    unseeded = cl.explain(tiny, tiny_x, "smoothgrad", n_samples=2)
    assert isinstance(unseeded.extras["seed"], int)


def test_smoothgrad_close_to_captum_noise_tunnel_in_expectation(linear, linear_x):
    """Captum's NoiseTunnel with the same noise level gives the same map on a linear model."""
    exp = cl.explain(linear, linear_x, "smoothgrad", target=0, seed=0, abs=True)
    tunnel = NoiseTunnel(Saliency(linear))
    expected = tunnel.attribute(
        torch.from_numpy(linear_x), target=0, nt_type="smoothgrad", nt_samples=5, stdevs=0.3
    )
    np.testing.assert_allclose(exp.attributions, expected.numpy(), rtol=1e-5)
