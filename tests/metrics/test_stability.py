"""Stability: 1 for an unchanged input, ~0 for planted random maps, more samples more stable."""

import hashlib

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import chronolens as cl
from chronolens.attribution._result import MethodResult
from chronolens.metrics import stability
from chronolens.testing import assert_model_unchanged, model_state


def test_a_deterministic_method_on_the_same_input_agrees_perfectly(tiny, tiny_x):
    for method in ("saliency", "grad_cam"):
        exp = cl.explain(tiny, tiny_x, method)
        before = model_state(tiny)
        got = stability(tiny, exp, over="noise", noise_scale=0.0, n_repeats=1)
        assert_model_unchanged(tiny, before)
        np.testing.assert_array_equal(got, 1.0)


@pytest.mark.parametrize("method", ["smoothgrad", "gradient_shap"])
def test_a_sampled_method_is_more_stable_over_seeds_with_more_samples(tiny, tiny_x, method):
    few = cl.explain(tiny, tiny_x, method, n_samples=2, seed=0)
    many = cl.explain(tiny, tiny_x, method, n_samples=40, seed=0)
    low = stability(tiny, few, over="seeds", n_repeats=3)
    high = stability(tiny, many, over="seeds", n_repeats=3)
    assert high.mean() > low.mean() + 0.1
    assert (high > low).mean() >= 0.8
    assert high.mean() > 0.8


def test_seeds_agreement_is_the_mean_spearman_with_maps_from_the_next_seeds(tiny, tiny_x):
    """A literal port: re-explain with seed + 1 and seed + 2, scipy's Spearman of |maps|."""
    exp = cl.explain(tiny, tiny_x, "gradient_shap", n_samples=8, seed=5)
    others = [
        cl.explain(tiny, tiny_x, "gradient_shap", n_samples=8, seed=s, target=exp.target)
        for s in (6, 7)
    ]
    want = [
        np.mean(
            [
                spearmanr(np.abs(exp.attributions[i]).ravel(), np.abs(o.attributions[i]).ravel())[0]
                for o in others
            ]
        )
        for i in range(len(tiny_x))
    ]
    np.testing.assert_allclose(stability(tiny, exp, over="seeds", n_repeats=2), want, rtol=1e-9)


def test_baselines_agreement_is_the_mean_spearman_over_the_other_baselines(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "integrated_gradients", n_steps=8, baseline="zeros")
    others = [
        cl.explain(tiny, tiny_x, "integrated_gradients", n_steps=8, baseline=b, target=exp.target)
        for b in ("mean", "blur")
    ]
    want = [
        np.mean(
            [spearmanr(exp.attributions[i].ravel(), o.attributions[i].ravel())[0] for o in others]
        )
        for i in range(len(tiny_x))
    ]
    got = stability(tiny, exp, over="baselines", absolute=False)  # default: zeros, mean, blur
    np.testing.assert_allclose(got, want, rtol=1e-9)


def _random_map(model, x, target, *, seed, batch_size, progress):
    """Planted: a map of fresh random ranks for every seed, whatever the model and input."""
    generator = torch.Generator().manual_seed(seed)
    return MethodResult(torch.rand(x.shape, generator=generator))


def _input_hash_map(model, x, target, *, batch_size, progress):
    """Planted: deterministic, but any change of the input redraws every rank."""
    maps = []
    for case in x:
        digest = hashlib.sha256(case.numpy().tobytes()).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))
        maps.append(torch.rand(case.shape, generator=generator))
    return MethodResult(torch.stack(maps))


@pytest.fixture
def planted():
    specs = [
        cl.MethodSpec(name="_planted_random", fn=_random_map, family="perturbation", summary="-"),
        cl.MethodSpec(name="_planted_hash", fn=_input_hash_map, family="perturbation", summary="-"),
    ]
    for spec in specs:
        cl.register(spec)
    try:
        yield
    finally:
        for spec in specs:
            cl.unregister(spec.name)


def test_planted_random_ranks_agree_about_zero(planted, tiny, tiny_x):
    over_seeds = stability(tiny, cl.explain(tiny, tiny_x, "_planted_random", seed=1), over="seeds")
    assert abs(over_seeds.mean()) < 0.1
    hashed = cl.explain(tiny, tiny_x, "_planted_hash")
    assert abs(stability(tiny, hashed, over="noise", noise_scale=1e-3).mean()) < 0.1
    # the same input gives the same hash: the noise really is what moved the map
    np.testing.assert_array_equal(stability(tiny, hashed, noise_scale=0.0, n_repeats=1), 1.0)


def test_over_that_does_not_apply_names_what_does(tiny, tiny_x):
    saliency = cl.explain(tiny, tiny_x, "saliency")
    with pytest.raises(ValueError, match="deterministic.*over='noise'"):
        stability(tiny, saliency, over="seeds")
    with pytest.raises(ValueError, match="takes no `baseline`.*integrated_gradients"):
        stability(tiny, saliency, over="baselines")
    ig = cl.explain(tiny, tiny_x, "integrated_gradients", n_steps=4)
    with pytest.raises(ValueError, match=r"over='noise' \(every method\) or over='baselines'"):
        stability(tiny, ig, over="seeds")
    with pytest.raises(ValueError, match="own baseline"):
        stability(tiny, ig, over="baselines", baselines=["zeros"])
    with pytest.raises(ValueError, match="over"):
        stability(tiny, ig, over="layers")


def test_unequal_lengths_rerun_each_length_unpadded(tiny, rng):
    cases = [rng.normal(size=(3, t)).astype(np.float32) for t in (30, 24, 30)]
    np.testing.assert_array_equal(
        stability(tiny, cl.explain(tiny, cases, "saliency"), noise_scale=0.0, n_repeats=1), 1.0
    )
    padded = cl.explain(tiny, cases, "integrated_gradients", n_steps=4, pad_value=0.0)
    with pytest.raises(ValueError, match="pad_value=None"):
        stability(tiny, padded, over="baselines")
