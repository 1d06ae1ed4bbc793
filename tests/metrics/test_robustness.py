"""Infidelity and max-sensitivity: parity with Captum on the same perturbations; closed forms."""

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from captum.metrics import infidelity as captum_infidelity
from captum.metrics import infidelity_perturb_func_decorator, sensitivity_max

import chronolens as cl
from chronolens import Explanation
from chronolens.metrics import infidelity, max_sensitivity
from chronolens.testing import assert_model_unchanged, model_state


def _documented_draws(kind, scale, seed, shape, n_samples):
    """The draws the docstrings promise: case i from numpy.random.default_rng([seed, i])."""
    out = []
    for i in range(shape[0]):
        rng = np.random.default_rng([seed, i])
        size = (n_samples, *shape[1:])
        draws = rng.normal(0, scale, size) if kind == "normal" else rng.uniform(-scale, scale, size)
        out.append(draws)
    return torch.from_numpy(np.concatenate(out).astype(np.float32))  # case-major, as Captum


@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_equals_captum(tiny, tiny_x, normalize):
    exp = cl.explain(tiny, tiny_x, "saliency", abs=False, target=[0, 1, 2, 0, 1])
    noise = _documented_draws("normal", 0.2, 3, tiny_x.shape, 6)

    def perturb(inputs):
        return noise, inputs - noise

    before = model_state(tiny)
    got = infidelity(tiny, exp, noise_scale=0.2, n_samples=6, seed=3, normalize=normalize)
    assert_model_unchanged(tiny, before)
    want = captum_infidelity(
        tiny,
        perturb,
        torch.from_numpy(tiny_x),
        torch.from_numpy(exp.attributions),
        target=exp.target.tolist(),
        n_perturb_samples=6,
        normalize=normalize,
    )
    np.testing.assert_allclose(got, want.double().numpy(), rtol=1e-4)


def test_infidelity_multiplied_by_inputs_equals_captum_decorator(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "integrated_gradients", n_steps=8)
    noise = _documented_draws("normal", 0.1, 0, tiny_x.shape, 4)

    @infidelity_perturb_func_decorator(True)
    def perturb(inputs, baselines):
        return inputs - noise

    got = infidelity(tiny, exp, n_samples=4, multiply_by_inputs=True, baseline="zeros")
    want = captum_infidelity(
        tiny,
        perturb,
        torch.from_numpy(tiny_x),
        torch.from_numpy(exp.attributions),
        baselines=torch.zeros_like(torch.from_numpy(tiny_x)),
        target=exp.target.tolist(),
        n_perturb_samples=4,
    )
    np.testing.assert_allclose(got, want.double().numpy(), rtol=1e-4)


def _masks(copies, rng):
    """Yeh et al.'s removal perturbation: I = x on a random subset, the model sees x - I."""
    return copies * (rng.random(copies.shape) < 0.3)


def test_infidelity_of_the_exact_linear_map_is_zero(linear, linear_x):
    """f(x) - f(x - I) = I . W[k] for any I: the gradient map has infidelity 0."""
    gradient = cl.explain(linear, linear_x, "saliency", abs=False)
    assert np.abs(infidelity(linear, gradient, noise_scale=0.5)).max() < 1e-9
    assert np.abs(infidelity(linear, gradient, perturbation=_masks)).max() < 1e-9
    # W[k] x with a zero baseline, perturbations taken relative to the input: also exact.
    ig = cl.explain(linear, linear_x, "integrated_gradients")
    assert np.abs(infidelity(linear, ig, perturbation=_masks, multiply_by_inputs=True)).max() < 1e-8
    wrong = Explanation(
        x=linear_x,
        attributions=np.random.default_rng(0).normal(size=linear_x.shape).astype(np.float32),
        target=gradient.target,
        scores=gradient.scores,
        method="given",
    )
    assert (infidelity(linear, wrong, noise_scale=0.5) > 1e-3).all()


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_max_sensitivity_equals_captum(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "saliency")  # |gradient|, Captum's Saliency default
    shift = _documented_draws("uniform", 0.05, 7, tiny_x.shape, 5)

    def perturb(inputs, radius):
        return inputs + shift

    before = model_state(tiny)
    got = max_sensitivity(tiny, exp, radius=0.05, n_samples=5, seed=7)
    assert_model_unchanged(tiny, before)
    want = sensitivity_max(
        Saliency(tiny).attribute,
        torch.from_numpy(tiny_x),
        perturb_func=perturb,
        perturb_radius=0.05,
        n_perturb_samples=5,
        target=exp.target.tolist(),
    )
    np.testing.assert_allclose(got, want.double().numpy(), rtol=1e-4)


def test_max_sensitivity_closed_forms_on_a_linear_model(linear, linear_x):
    gradient = cl.explain(linear, linear_x, "saliency", abs=False)
    np.testing.assert_array_equal(max_sensitivity(linear, gradient), 0.0)  # W[k]: constant
    # W[k] x: the change is W[k] d, the largest ||W[k] d|| / ||W[k] x|| over the draws.
    product = cl.explain(linear, linear_x, "input_x_gradient")
    w = linear[1].weight.detach().double().numpy()[product.target].reshape(-1, 1, 3, 20)
    shift = _documented_draws("uniform", 0.3, 2, linear_x.shape, 4).double().numpy()
    moved = np.linalg.norm((w * shift.reshape(4, 4, 3, 20)).reshape(4, 4, -1), axis=2)
    scale = np.linalg.norm((w[:, 0] * linear_x).reshape(4, -1), axis=1)
    got = max_sensitivity(linear, product, radius=0.3, n_samples=4, seed=2)
    np.testing.assert_allclose(got, moved.max(axis=1) / scale, rtol=1e-4)
    l1 = max_sensitivity(linear, product, radius=0.3, n_samples=4, seed=2, norm_ord=1)
    moved_l1 = np.abs(w * shift.reshape(4, 4, 3, 20)).reshape(4, 4, -1).sum(2).max(1)
    np.testing.assert_allclose(
        l1, moved_l1 / np.abs(w[:, 0] * linear_x).reshape(4, -1).sum(1), rtol=1e-4
    )


def test_bad_arguments_name_the_fix(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "saliency")
    with pytest.raises(ValueError, match="expected"):
        infidelity(tiny, exp, perturbation=lambda copies, rng: copies[:1])
    with pytest.raises(TypeError, match="perturbation"):
        infidelity(tiny, exp, perturbation=0.1)
    with pytest.raises(ValueError, match="noise_scale"):
        infidelity(tiny, exp, noise_scale=-1.0)
    with pytest.raises(ValueError, match="norm_ord"):
        max_sensitivity(tiny, exp, norm_ord="l2")
    given = Explanation(
        x=tiny_x,
        attributions=exp.attributions,
        target=exp.target,
        scores=exp.scores,
        method="given",
    )
    with pytest.raises(ValueError, match="registered"):
        max_sensitivity(tiny, given)
