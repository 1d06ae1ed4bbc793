"""TIMING against a literal loop of its definition, Captum's left-Riemann IG and a closed form.

The literal reference rebuilds each step's fixed segments from the recorded draws with plain
loops, builds the series point by point, and takes the gradient with its own autograd call.
"""

import warnings

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

import chronolens as cl


def _net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 20, 3)
    ).eval()


def _reference(model, x, target, draws, n_steps, eps):
    n, c, t = x.shape
    total = np.zeros_like(x, dtype=np.float64)
    moves = np.zeros((c, t))
    for s in range(n_steps):
        moving = np.ones((c, t))
        for seg in range(draws["channel"].shape[1]):
            begin, length = draws["start"][s, seg], draws["length"][s, seg]
            for point in range(begin, begin + length):
                moving[draws["channel"][s, seg], point] = 0.0
        moves += moving
        for i in range(n):
            series = np.where(moving > 0, (s / n_steps) * x[i], x[i])  # zero baseline
            inputs = torch.tensor(series[None], dtype=torch.float32, requires_grad=True)
            (grad,) = torch.autograd.grad(model(inputs)[0, target], inputs)
            total[i] += grad[0].double().numpy() * moving
    return x * total / (moves + eps)


def test_timing_is_the_literal_definition():
    model = _net()
    x = np.random.default_rng(0).normal(size=(2, 2, 20)).astype(np.float32)
    params = dict(n_steps=6, n_segments=3, min_length=2, max_length=7, absolute=False, seed=3)
    exp = cl.explain(model, x, "timing", target=1, **params)
    expected = _reference(model, x, 1, exp.extras, 6, float(torch.finfo(torch.float16).eps))
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-6)
    absolute = cl.explain(model, x, "timing", target=1, **{**params, "absolute": True})
    np.testing.assert_allclose(absolute.attributions, np.abs(expected), rtol=1e-4, atol=1e-6)


def test_segments_follow_the_papers_draws():
    model = _net()
    x = np.zeros((1, 2, 20), dtype=np.float32)
    exp = cl.explain(model, x, "timing", n_steps=40, n_segments=5, min_length=3, max_length=9)
    length, start, channel = exp.extras["length"], exp.extras["start"], exp.extras["channel"]
    assert length.shape == (40, 5)
    assert length.min() >= 3 and length.max() <= 9
    assert (start >= 0).all() and (start + length <= 20).all()
    assert set(np.unique(channel)) <= {0, 1}
    assert len(np.unique(length)) > 3  # uniform over the range, not one value


def test_without_segments_it_is_captums_left_riemann_integrated_gradients():
    model = _net(1)
    x = np.random.default_rng(1).normal(size=(3, 2, 20)).astype(np.float32)
    exp = cl.explain(model, x, "timing", target=2, n_steps=16, n_segments=0, absolute=False)
    ig = IntegratedGradients(model).attribute(
        torch.from_numpy(x), target=2, n_steps=16, method="riemann_left"
    )
    np.testing.assert_allclose(exp.attributions, ig.numpy(), rtol=1e-4, atol=1e-6)


def test_linear_model_gets_weight_times_input_wherever_a_point_moves():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 20, 2)).eval()
    x = np.random.default_rng(2).normal(size=(2, 2, 20)).astype(np.float32)
    exp = cl.explain(model, x, "timing", target=0, n_steps=5, n_segments=4, absolute=False)
    weight = model[1].weight[0].detach().numpy().reshape(2, 20)
    free_steps = np.zeros((2, 20))
    for s in range(5):
        moving = np.ones((2, 20))
        for seg in range(4):
            begin = exp.extras["start"][s, seg]
            moving[exp.extras["channel"][s, seg], begin : begin + exp.extras["length"][s, seg]] = 0
        free_steps += moving
    scale = free_steps / (free_steps + float(torch.finfo(torch.float16).eps))
    np.testing.assert_allclose(exp.attributions, weight * x * scale, rtol=1e-4, atol=1e-6)


def test_bad_lengths_are_refused_by_name():
    model, x = _net(), np.zeros((1, 2, 20), dtype=np.float32)
    with pytest.raises(ValueError, match="min_length"):
        cl.explain(model, x, "timing", min_length=0)


def test_segments_that_fix_nearly_every_point_are_warned_about():
    # 50 segments of 10-50 points on a 1 x 50 series: a point stays free on a step with
    # probability about exp(-50 * 30 / 50) ~ 1e-13, so nearly every point never moves.
    model = nn.Sequential(nn.Flatten(), nn.Linear(50, 2)).eval()
    x = np.random.default_rng(1).normal(size=(2, 1, 50)).astype(np.float32)
    with pytest.warns(UserWarning, match="n_segments=2 or 'auto'"):
        cl.explain(model, x, "timing", target=0, seed=0, n_segments=50)  # the paper's count
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exp = cl.explain(model, x, "timing", target=0, seed=0)  # "auto": 50 / 30 -> 2
    assert exp.extras["n_segments"] == 2
    # With that count the points move on about exp(-1.2) of the steps.
    free_share = 1 - _fixed_share(exp.extras, 1, 50)
    assert 0.15 < free_share < 0.5


def test_auto_segments_reproduce_the_papers_setting_and_share():
    # The paper: 50 segments of 10-48 points on 31 x 48 series (MIMIC-III).
    model = nn.Sequential(nn.Flatten(), nn.Linear(31 * 48, 2)).eval()
    x = np.random.default_rng(2).normal(size=(1, 31, 48)).astype(np.float32)
    exp = cl.explain(model, x, "timing", target=0, seed=1, n_steps=40, max_length=48)
    assert exp.extras["n_segments"] == round(31 * 48 / 29)  # 51, the paper's 50 within one
    # The held share at any shape is about 1 - exp(-1) (independent segments, each holding
    # about mean-length / (c t) of the points), on the paper's shape and on the demo's.
    assert abs(_fixed_share(exp.extras, 31, 48) - (1 - np.exp(-1))) < 0.05
    wide = np.random.default_rng(3).normal(size=(1, 9, 300)).astype(np.float32)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(9 * 300, 2)).eval()
    exp = cl.explain(linear, wide, "timing", target=0, seed=1, n_steps=40)
    assert exp.extras["n_segments"] == round(9 * 300 / 155)
    assert abs(_fixed_share(exp.extras, 9, 300) - (1 - np.exp(-1))) < 0.05


def _fixed_share(draws, n_channels, n_timepoints):
    fixed = np.zeros((len(draws["length"]), n_channels, n_timepoints), dtype=bool)
    for step, (starts, lengths, channels) in enumerate(
        zip(draws["start"], draws["length"], draws["channel"], strict=True)
    ):
        for begin, length, channel in zip(starts, lengths, channels, strict=True):
            fixed[step, channel, begin : begin + length] = True
    return float(fixed.mean())
