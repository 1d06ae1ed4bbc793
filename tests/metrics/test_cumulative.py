"""CPD / CPP against a loop-by-loop port of TIMING's definition and a linear closed form."""

import numpy as np
import pytest
import torch

import chronolens as cl
from chronolens import Explanation
from chronolens.metrics import cpd, cpp
from chronolens.testing import assert_model_unchanged, linear_model, model_state


def _given(x, attributions, target=None, per_channel=True):
    return Explanation(
        x=x,
        attributions=attributions.astype(np.float32),
        target=None if target is None else np.asarray(target, dtype=np.int64),
        scores=np.zeros((len(x), 1)),
        method="given",
        per_channel=per_channel,
    )


def _loop_port(model, x, attributions, k, *, most_first, step=1, baseline=None, probs=True):
    """TIMING's cumulative difference, written out: one case, one removal step, one call at a time.

    Points are ranked by |attribution| (ties: earlier time first, then lower channel), removed
    ``step`` at a time into the baseline; each step adds the mean over classes of
    |p_after - p_before|.
    """
    out = []
    for i in range(len(x)):
        case = torch.from_numpy(x[i : i + 1].copy())
        fill = torch.zeros_like(case) if baseline is None else torch.from_numpy(baseline[i : i + 1])
        weight = np.abs(attributions[i]).astype(np.float64)
        shared = weight.shape[0] == 1
        flat = weight.reshape(-1)
        width = weight.shape[1]
        order = sorted(
            range(flat.size),
            key=lambda j: (-flat[j] if most_first else flat[j], j % width, j // width),
        )
        with torch.no_grad():
            before = model(case)
            before = before.softmax(-1) if probs else before
            total = 0.0
            current = case.clone()
            for first in range(0, k, step):
                for j in order[first : min(first + step, k)]:
                    ch, t = divmod(j, weight.shape[1])
                    if shared:
                        current[0, :, t] = fill[0, :, t]
                    else:
                        current[0, ch, t] = fill[0, ch, t]
                after = model(current)
                after = after.softmax(-1) if probs else after
                total += float((after - before).abs().mean())
                before = after
        out.append(total)
    return np.array(out)


def test_cpd_and_cpp_equal_a_literal_loop_on_a_cnn(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "integrated_gradients", n_steps=8)
    before = model_state(tiny)
    got_cpd = cpd(tiny, exp, n_points=25)
    got_cpp = cpp(tiny, exp, n_points=25)
    assert_model_unchanged(tiny, before)
    a = exp.attributions
    want_cpd = _loop_port(tiny, tiny_x, a, 25, most_first=True)
    want_cpp = _loop_port(tiny, tiny_x, a, 25, most_first=False)
    np.testing.assert_allclose(got_cpd, want_cpd, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(got_cpp, want_cpp, rtol=1e-4, atol=1e-7)
    # A faithful-enough map moves the output more with its top points than with its bottom ones.
    assert got_cpd.mean() > got_cpp.mean()


def test_steps_fraction_mean_baseline_and_scores_equal_the_loop(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "saliency")
    mean = np.repeat(tiny_x.mean(axis=2, keepdims=True), tiny_x.shape[2], axis=2)
    count = int(0.1 * exp.attributions[0].size)  # TIMING: int(topk * numel)
    got = cpd(tiny, exp, n_points=0.1, step=4, baseline="mean", output="scores", batch_size=7)
    want = _loop_port(
        tiny, tiny_x, exp.attributions, count, most_first=True, step=4, baseline=mean, probs=False
    )
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_a_shared_map_counts_every_channel_of_a_time_point(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "grad_cam")
    assert exp.attributions.shape[1] == 1
    c = tiny_x.shape[1]
    got = cpp(tiny, exp, n_points=4 * c, step=c)
    # the map repeated over the channels, ranked and removed value by value ...
    repeated = np.repeat(exp.attributions, c, axis=1)
    want = _loop_port(tiny, tiny_x, repeated, 4 * c, most_first=False, step=c)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)
    # ... is, a time point at a time, removing that time point from every channel
    whole = _loop_port(tiny, tiny_x, exp.attributions, 4, most_first=False)
    np.testing.assert_allclose(got, whole, rtol=1e-4, atol=1e-7)


@pytest.fixture
def single_logit():
    return linear_model(n_channels=2, n_timepoints=15, n_classes=1, seed=4)


def test_linear_model_closed_form(single_logit, rng):
    """f = w.x + b, zero baseline: removing point i changes f by w_i x_i exactly."""
    x = rng.normal(size=(6, 2, 15)).astype(np.float32)
    w = single_logit[1].weight.detach().double().numpy().reshape(2, 15)
    contribution = np.abs(w[None] * x)  # |w_i x_i|
    exact = _given(x, contribution)
    k = 9
    top = np.sort(contribution.reshape(6, -1), axis=1)[:, ::-1]
    got = cpd(single_logit, exact, n_points=k, output="scores")
    np.testing.assert_allclose(got, top[:, :k].sum(axis=1), rtol=1e-4)
    np.testing.assert_allclose(
        cpp(single_logit, exact, n_points=k, output="scores"),
        top[:, ::-1][:, :k].sum(axis=1),
        rtol=1e-4,
    )
    # The exact map beats a random map and its own reverse, case by case.
    random_map = _given(x, rng.random(x.shape))
    reverse = _given(x, 1.0 / contribution)
    assert (got > cpd(single_logit, random_map, n_points=k, output="scores")).all()
    assert (got > cpd(single_logit, reverse, n_points=k, output="scores")).all()
    # Steps of K: the change of one step is the sum over its points (same sign: |sum| = sum).
    stepped = cpd(single_logit, exact, n_points=k, step=3, output="scores")
    signed = (w[None] * x).reshape(6, -1)
    order = np.argsort(-contribution.reshape(6, -1), axis=1, kind="stable")
    blocks = [np.take_along_axis(signed, order[:, s : s + 3], axis=1).sum(1) for s in (0, 3, 6)]
    np.testing.assert_allclose(stepped, np.abs(blocks).sum(axis=0), rtol=1e-4)


def test_input_x_gradient_is_the_exact_map_for_one_class(linear, linear_x):
    """target=class: the change of that class's logit only; the map W[k] x is exact."""
    exp = cl.explain(linear, linear_x, "input_x_gradient", target=1)
    w = linear[1].weight.detach().double().numpy()[1].reshape(linear_x.shape[1:])
    contribution = np.sort(np.abs(w * linear_x).reshape(len(linear_x), -1), axis=1)[:, ::-1]
    got = cpd(linear, exp, n_points=20, output="scores", target=1)
    np.testing.assert_allclose(got, contribution[:, :20].sum(1), rtol=1e-4)


def test_unequal_lengths_score_each_case_at_its_own_length(tiny, rng):
    cases = [rng.normal(size=(3, t)).astype(np.float32) for t in (30, 24, 30)]
    exp = cl.explain(tiny, cases, "saliency")
    got = cpd(tiny, exp, n_points=10)
    for i, case in enumerate(cases):
        alone = cl.explain(tiny, case[None], "saliency")
        np.testing.assert_allclose(got[i], cpd(tiny, alone, n_points=10)[0], rtol=1e-5)


def test_bad_arguments_name_the_fix(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "saliency")
    with pytest.raises(ValueError, match="n_points"):
        cpd(tiny, exp, n_points=10_000)
    with pytest.raises(ValueError, match="n_points"):
        cpd(tiny, exp, n_points=1.5)
    with pytest.raises(ValueError, match="output='scores'"):
        cpd(tiny, exp, n_points=5, target=lambda out: out[:, 0])
    with pytest.raises(ValueError, match="output"):
        cpp(tiny, exp, n_points=5, output="logits")
    with pytest.raises(TypeError, match="Explanation"):
        cpd(tiny, exp.attributions)
