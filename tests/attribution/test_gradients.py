"""Gradient methods against Captum and against closed forms on linear and cubic models."""

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


class _Cubic(torch.nn.Module):
    """``score_k = sum_{c,t} w[k, c, t] * x[c, t] ** 3``: gradient ``3 w x^2``, not constant."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.as_tensor(weight))

    def forward(self, x):
        return torch.einsum("kct,nct->nk", self.weight, x**3)


def _cubic_case():
    rng = np.random.default_rng(4)
    weight = rng.normal(size=(2, 2, 12)).astype(np.float32)  # signed
    # Three cases of very different ranges: the noise must scale with each case's own range.
    scale = np.array([0.5, 1.0, 3.0])[:, None, None]
    x = (rng.normal(size=(3, 2, 12)) * scale).astype(np.float32)
    return _Cubic(weight).eval(), weight, x


# Enough draws that the closed form is resolved to a few percent of the noise term 3 w s^2.
N_DRAWS, NOISE_LEVEL = 4000, 0.3


def _noise_std(x):
    """noise_level times each case's range (max - min over channels and times), (n, 1, 1)."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return NOISE_LEVEL * (flat.max(axis=1) - flat.min(axis=1))[:, None, None]


def _sampling_sd(weight, x, s, n_draws):
    """Standard deviation of the mean of ``n_draws`` gradients ``3 w (x + s e)^2``, e ~ N(0, 1).

    ``3 w (x + s e)^2 = 3 w (x^2 + 2 x s e + s^2 e^2)``; Var(e) = 1, Var(e^2) = 2 and
    Cov(e, e^2) = E[e^3] = 0, so one draw has variance ``9 w^2 s^2 (4 x^2 + 2 s^2)``; the mean of
    ``n_draws`` independent draws has that over ``n_draws``. Taking |.| does not change it.
    """
    return 3 * np.abs(weight) * s * np.sqrt((4 * x**2 + 2 * s**2) / n_draws)


@pytest.mark.parametrize("abs_", [False, True])
def test_smoothgrad_matches_the_closed_form_expectation_on_a_cubic_model(abs_):
    """E[3 w (x + s e)^2] = 3 w (x^2 + s^2) with s = noise_level * (max - min) of the case.

    The gradient of a cubic model changes with x, so unlike on a linear model the map depends on
    the noise: no noise, or noise of the wrong scale (absolute instead of relative to the range,
    one range for the whole batch), misses the ``3 w s^2`` term, which is 14+ sampling standard
    deviations at every point here.
    """
    model, weight, x = _cubic_case()
    settings = {"noise_level": NOISE_LEVEL, "n_samples": N_DRAWS, "seed": 0}
    exp = cl.explain(model, x, "smoothgrad", target=0, abs=abs_, **settings)
    s = _noise_std(x)
    np.testing.assert_allclose(exp.extras["noise_std"], s.ravel(), rtol=1e-6)
    w = np.abs(weight[0]) if abs_ else weight[0]  # |3 w (x + s e)^2| = 3 |w| (x + s e)^2
    closed_form = 3 * w * (x**2 + s**2)
    plain = 3 * w * x**2
    sd = _sampling_sd(weight[0], x, s, N_DRAWS)
    # Every point within 5 sampling standard deviations of its expectation (the mean of 4000
    # draws is close to Gaussian; 5 sd has two-sided probability 6e-7 per point) ...
    z = (exp.attributions - closed_form) / sd
    assert np.abs(z).max() < 5, np.abs(z).max()
    # ... and the errors look like sampling noise: mean ~ 0 and spread ~ 1 over the 72 points.
    assert abs(z.mean()) < 0.6 and 0.6 < z.std() < 1.4, (z.mean(), z.std())
    # The map differs measurably from the plain gradient at every point.
    assert (np.abs(exp.attributions - plain) > 10 * sd).all()
    # Its per-case noise term recovers s^2: the noise is scaled by each case's own range.
    recovered = ((exp.attributions / (3 * w) - x**2).reshape(len(x), -1)).mean(axis=1)
    np.testing.assert_allclose(recovered, s.ravel() ** 2, rtol=0.05)


def test_smoothgrad_agrees_with_captum_noise_tunnel_on_a_cubic_model():
    """Captum's NoiseTunnel with the same absolute noise std per case estimates the same map.

    Both are means of ``N_DRAWS`` independent noisy gradients (absolute, Captum's default), so
    their difference has standard deviation sqrt(2) times one estimate's; 5 of those per point.
    """
    model, weight, x = _cubic_case()
    exp = cl.explain(
        model, x, "smoothgrad", target=0, noise_level=NOISE_LEVEL, n_samples=N_DRAWS, seed=1
    )
    s = _noise_std(x)
    torch.manual_seed(0)
    tunnel = NoiseTunnel(Saliency(model))
    expected = np.concatenate(
        [
            tunnel.attribute(
                torch.from_numpy(x[case : case + 1]),
                target=0,
                nt_type="smoothgrad",
                nt_samples=N_DRAWS,
                nt_samples_batch_size=1000,
                stdevs=float(s[case, 0, 0]),
            ).numpy()
            for case in range(len(x))
        ]
    )
    sd = np.sqrt(2) * _sampling_sd(weight[0], x, s, N_DRAWS)
    assert (np.abs(exp.attributions - expected) < 5 * sd).all()
    # Both differ from the noise-free |gradient| by the same 3 |w| s^2.
    plain = 3 * np.abs(weight[0]) * x**2
    assert (expected - plain > 10 * _sampling_sd(weight[0], x, s, N_DRAWS)).all()
