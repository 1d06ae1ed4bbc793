"""Temporal saliency rescaling: planted ground truth and a literal slow re-implementation."""

import numpy as np
import pytest
import torch
from tests.attribution.planted import (
    CHANNEL,
    KERNEL,
    WINDOW,
    planted_model,
    planted_series,
    window_mask,
)

import chronolens as cl
from chronolens.testing import assert_model_unchanged, model_state, tiny_conv_model


def test_time_relevance_is_zero_where_the_model_ignores_time():
    model, x = planted_model(), planted_series()
    before = model_state(model)
    exp = cl.explain(model, x, "tsr", target=1, base="saliency")
    assert_model_unchanged(model, before)
    relevance = exp.extras["time_relevance"]
    first, last = WINDOW[0] - KERNEL // 2, WINDOW[1] - 1 + KERNEL // 2  # inputs the head sees
    assert np.all(relevance[:, :first] == 0) and np.all(relevance[:, last + 1 :] == 0)
    assert np.all(relevance[:, first : last + 1].max(axis=1) == 1)
    mass = exp.attributions
    assert (mass.sum(axis=2).argmax(axis=1) == CHANNEL).all()
    assert (mass[:, window_mask()].sum(axis=1) > 0.9 * mass.sum(axis=(1, 2))).all()


def _min_max(v):
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def _slow_tsr(model, x, target, base, window=1, threshold=0.55):
    """The paper's algorithm, one case, one step and one channel at a time (masks: channel mean)."""
    n, c, t = x.shape
    out = np.zeros_like(x)

    assert base == "saliency"

    def saliency_map(series, case):
        """|d score / d x| with plain autograd (the base method, not chronolens' saliency)."""
        inputs = torch.from_numpy(np.ascontiguousarray(series[None])).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(inputs)[0, target[case]], inputs)
        return grad[0].abs().numpy()

    for case in range(n):
        series = x[case]
        fill = series.mean(axis=1, keepdims=True) * np.ones_like(series)
        actual = saliency_map(series, case)
        windows = [list(range(s, min(s + window, t))) for s in range(0, t, window)]
        time_grad = np.zeros(len(windows))
        for w, steps in enumerate(windows):
            masked = series.copy()
            masked[:, steps] = fill[:, steps]
            time_grad[w] = np.abs(actual - saliency_map(masked, case)).sum()
        time_contribution = _min_max(time_grad)
        cut = np.quantile(time_contribution, threshold)
        for w, steps in enumerate(windows):
            if time_contribution[w] > cut:
                input_grad = np.zeros(c)
                for channel in range(c):
                    masked = series.copy()
                    masked[channel, steps] = fill[channel, steps]
                    input_grad[channel] = np.abs(actual - saliency_map(masked, case)).sum()
                feature = _min_max(input_grad)
            else:
                feature = np.full(c, 0.1)
            out[case][:, steps] = time_contribution[w] * feature[:, None]
    return out


@pytest.mark.parametrize("window", [1, 4])
def test_matches_a_literal_reimplementation_of_the_paper(rng, window):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=2)
    x = rng.normal(size=(1, 3, 12)).astype(np.float32)
    target = [2]
    exp = cl.explain(model, x, "tsr", target=target, base="saliency", window=window)
    expected = _slow_tsr(model, x, target, "saliency", window=window)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-5)


def test_wraps_any_method(tiny, tiny_x):
    ig = cl.explain(
        tiny, tiny_x[:2], "tsr", base="integrated_gradients", base_params={"n_steps": 4}, window=8
    )
    assert ig.attributions.shape == tiny_x[:2].shape and ig.extras["base"] == "integrated_gradients"
    cam = cl.explain(tiny, tiny_x[:2], "tsr", base="grad_cam", window=8)
    assert cam.extras["layer"] == "relu2" and cam.attributions.shape == tiny_x[:2].shape
    first = cl.explain(
        tiny, tiny_x[:2], "tsr", base="smoothgrad", base_params={"n_samples": 2}, seed=3, window=8
    )
    again = cl.explain(
        tiny, tiny_x[:2], "tsr", base="smoothgrad", base_params={"n_samples": 2}, seed=3, window=8
    )
    np.testing.assert_array_equal(first.attributions, again.attributions)
    assert first.extras["seed"] == 3


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"base": "tsr"}, ValueError, "cannot be 'tsr'"),
        ({"base": "salincy"}, ValueError, "Did you mean 'saliency'"),
        ({"base": 3}, TypeError, "registered method name"),
        ({"base_params": {"steps": 3}}, TypeError, "not parameters of 'saliency'"),
        ({"base_params": [1]}, TypeError, "dict"),
        ({"base_params": {"layer": "conv1"}}, TypeError, "does not read a layer"),
        ({"threshold": 1.5}, ValueError, "threshold"),
        ({"window": 0}, ValueError, "window"),
        ({"baseline": "median"}, ValueError, "baseline"),
    ],
)
def test_bad_arguments(tiny, tiny_x, params, error, match):
    with pytest.raises(error, match=match):
        cl.explain(tiny, tiny_x, "tsr", **params)
