import itertools

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens import Explanation
from chronolens.metrics import aopc_score, deletion, insertion
from chronolens.testing import assert_model_unchanged, model_state


def _linear_parts(model):
    linear = model[1]
    return linear.weight.detach().double().numpy(), linear.bias.detach().double().numpy()


def _explanation(x, attributions, target, per_channel=True):
    return Explanation(
        x=x,
        attributions=attributions.astype(np.float32),
        target=np.asarray(target, dtype=np.int64),
        scores=np.zeros((len(x), 1)),
        method="given",
        per_channel=per_channel,
    )


def _expected_deletion(x, weights, bias, target, blocks, counts):
    """Score after zeroing the top ``counts[k]`` blocks (ranked by mean contribution)."""
    out = np.empty((len(x), len(counts)))
    for i in range(len(x)):
        contribution = weights[target[i]].reshape(x.shape[1:]) * x[i]
        sums = np.array([contribution[b].sum() for b in blocks])
        means = np.array([contribution[b].mean() for b in blocks])
        order = np.argsort(-means, kind="stable")
        full = contribution.sum() + bias[target[i]]
        out[i] = [full - sums[order[:k]].sum() for k in counts]
    return out


def test_deletion_of_exact_attribution_on_linear_model_is_closed_form(linear, linear_x):
    exp = cl.explain(linear, linear_x, "input_x_gradient")
    weights, bias = _linear_parts(linear)
    before = model_state(linear)
    curve = deletion(linear, exp, n_steps=20)
    assert_model_unchanged(linear, before)
    c, t = linear_x.shape[1:]
    blocks = [(slice(ch, ch + 1), slice(p, p + 1)) for ch in range(c) for p in range(t)]
    counts = np.rint(np.linspace(0, 1, 21) * c * t).astype(int)
    expected = _expected_deletion(linear_x, weights, bias, exp.target, blocks, counts)
    np.testing.assert_allclose(curve.scores, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(curve.auc, np.trapezoid(expected, curve.fractions), rtol=1e-4)
    np.testing.assert_allclose(curve.fractions, np.linspace(0, 1, 21))
    # Both curves start at the model's score and end at the bias (everything zeroed).
    np.testing.assert_allclose(curve.random_scores[:, 0], expected[:, 0], rtol=1e-5)
    np.testing.assert_allclose(curve.random_scores[:, -1], bias[exp.target], atol=1e-5)
    # AOPC is the mean drop (Samek et al.).
    np.testing.assert_allclose(
        aopc_score(linear, exp, n_steps=20), (expected[:, :1] - expected).mean(1), rtol=1e-4
    )
    assert curve.mean_auc < curve.mean_random_auc


def test_insertion_of_exact_attribution_on_linear_model_is_closed_form(linear, linear_x):
    exp = cl.explain(linear, linear_x, "input_x_gradient")
    weights, bias = _linear_parts(linear)
    curve = insertion(linear, exp, n_steps=10)
    c, t = linear_x.shape[1:]
    counts = np.rint(np.linspace(0, 1, 11) * c * t).astype(int)
    for i in range(len(linear_x)):
        contribution = (weights[exp.target[i]].reshape(c, t) * linear_x[i]).ravel()
        order = np.argsort(-contribution, kind="stable")
        expected = [bias[exp.target[i]] + contribution[order[:k]].sum() for k in counts]
        np.testing.assert_allclose(curve.scores[i], expected, rtol=1e-4, atol=1e-4)
    assert curve.mean_auc > curve.mean_random_auc


def test_window_granularity_removes_whole_windows(linear, linear_x):
    exp = cl.explain(linear, linear_x, "input_x_gradient")
    weights, bias = _linear_parts(linear)
    curve = deletion(linear, exp, granularity="window", window=4, n_steps=15)
    c, t = linear_x.shape[1:]
    blocks = [(slice(ch, ch + 1), slice(s, s + 4)) for ch in range(c) for s in range(0, t, 4)]
    counts = np.rint(np.linspace(0, 1, 16) * len(blocks)).astype(int)
    expected = _expected_deletion(linear_x, weights, bias, exp.target, blocks, counts)
    np.testing.assert_allclose(curve.scores, expected, rtol=1e-4, atol=1e-4)


def test_shared_map_removes_time_points_in_every_channel(linear, linear_x):
    weights, bias = _linear_parts(linear)
    target = np.array([0, 1, 2, 0])
    c, t = linear_x.shape[1:]
    shared = np.stack(
        [(weights[k].reshape(c, t) * x).sum(0, keepdims=True) for k, x in zip(target, linear_x)]
    )
    exp = _explanation(linear_x, shared, target, per_channel=False)
    curve = deletion(linear, exp, n_steps=t)
    blocks = [(slice(0, c), slice(p, p + 1)) for p in range(t)]
    expected = _expected_deletion(linear_x, weights, bias, target, blocks, np.arange(t + 1))
    np.testing.assert_allclose(curve.scores, expected, rtol=1e-4, atol=1e-4)


def _mask_model_and_data():
    """Class 0 score = correlation of x with an alternating pattern planted in the mask.

    Every baseline (zeros, means, noise, local means, blur) destroys an alternating pattern.
    """
    rng = np.random.default_rng(3)
    mask = np.zeros((2, 30), bool)
    mask[0, 5:12] = True
    mask[1, 20:24] = True
    pattern = mask * np.where(np.arange(30) % 2 == 0, 1.0, -1.0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(60, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
        model[1].weight[0] = torch.from_numpy(pattern.ravel().astype(np.float32))
    x = (0.1 * rng.normal(size=(3, 2, 30)) + 2 * pattern).astype(np.float32)
    return model, x, np.broadcast_to(mask, x.shape)


@pytest.mark.parametrize("baseline", ["zeros", "mean", "noise", "local_mean", "blur"])
@pytest.mark.parametrize("granularity", ["point", "window"])
def test_mask_map_beats_its_negation_on_deletion(baseline, granularity):
    model, x, mask = _mask_model_and_data()
    kwargs = {"baseline": baseline, "granularity": granularity, "window": 3}
    good = deletion(model, _explanation(x, mask * 1.0, [0, 0, 0]), **kwargs)
    bad = deletion(model, _explanation(x, -1.0 * mask, [0, 0, 0]), **kwargs)
    assert np.all(good.auc < bad.auc)
    assert good.mean_auc < good.mean_random_auc < bad.mean_auc


def test_seeded_reference_and_batch_size_independence(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "input_x_gradient")
    a = deletion(tiny, exp, baseline="noise", seed=3, n_steps=5)
    b = deletion(tiny, exp, baseline="noise", seed=3, n_steps=5, batch_size=1)
    c = deletion(tiny, exp, baseline="noise", seed=4, n_steps=5)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.random_scores, b.random_scores, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a.random_scores, c.random_scores)
    assert a.scores.shape == (5, 6) and a.auc.shape == (5,)
    assert "deletion" in repr(a)


def test_explicit_target_and_callable_target(linear, linear_x):
    exp = cl.explain(linear, linear_x, "input_x_gradient", target=1)
    a = deletion(linear, exp, n_steps=4)
    b = deletion(linear, exp, n_steps=4, target=1)
    np.testing.assert_allclose(a.scores, b.scores)
    c = deletion(linear, exp, n_steps=4, target=lambda out: out[:, 1])
    np.testing.assert_allclose(a.scores, c.scores)
    callable_exp = cl.explain(linear, linear_x, "saliency", target=lambda out: out[:, 1])
    with pytest.raises(ValueError, match="target"):
        deletion(linear, callable_exp)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"baseline": "zero"}, "baseline"),
        ({"baseline": np.zeros(3)}, "baseline"),
        ({"granularity": "windows"}, "granularity"),
        ({"n_steps": 0}, "n_steps"),
        ({"window": 1000}, "window"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_parameters_are_named(linear, linear_x, kwargs, match):
    exp = cl.explain(linear, linear_x, "saliency")
    with pytest.raises((ValueError, TypeError), match=match):
        deletion(linear, exp, **kwargs)


def test_explanation_type_is_checked(linear):
    with pytest.raises(TypeError, match="Explanation"):
        deletion(linear, np.zeros((1, 3, 20)))


def test_black_box_callable_gives_the_same_curves(linear, linear_x):
    exp = cl.explain(linear, linear_x, "input_x_gradient")
    x_before = exp.x.copy()

    def predict(series):
        with torch.no_grad():
            return linear(torch.as_tensor(np.asarray(series), dtype=torch.float32)).numpy()

    through_torch = deletion(linear, exp, n_steps=6, baseline="noise")
    through_box = deletion(predict, exp, n_steps=6, baseline="noise")
    np.testing.assert_allclose(through_box.scores, through_torch.scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(through_box.random_auc, through_torch.random_auc, rtol=1e-5)
    np.testing.assert_array_equal(exp.x, x_before)


def _recording_box(model, seen):
    def predict(series):
        seen.append(np.array(series))
        with torch.no_grad():
            return model(torch.as_tensor(np.asarray(series), dtype=torch.float32)).numpy()

    return predict


def _removed_sets(model, exp, fill, **kwargs):
    """The points each curve removed at each step, read from the series the model was given."""
    seen: list = []
    curve = deletion(_recording_box(model, seen), exp, baseline=fill, **kwargs)
    n, steps = curve.scores.shape
    n_curves = 2 if curve.reference == "point" else 3  # map, points (, blocks)
    rows = np.concatenate(seen)[-n_curves * n * steps :]  # earlier calls read the targets
    per_curve = rows.reshape(n_curves, n, steps, *exp.x.shape[1:]) == fill
    return curve, per_curve


def test_block_reference_removes_whole_planted_blocks_in_a_random_order(linear):
    sizes = [3, 7, 5, 1, 4]  # planted blocks of one channel: 20 points
    rng = np.random.default_rng(4)
    x = rng.uniform(1, 2, size=(2, 3, 20)).astype(np.float32)
    levels = rng.permutation(15).reshape(3, 5).astype(np.float32)
    block_map = np.stack([np.repeat(row, sizes) for row in levels])[None].repeat(2, 0)
    exp = _explanation(x, block_map, [0, 1])
    curve, removed = _removed_sets(linear, exp, -7.0, n_steps=60)
    assert curve.reference == "block" and len(removed) == 3  # map, points, blocks
    edges = np.cumsum([0, *sizes])
    blocks = [(ch, slice(a, b)) for ch in range(3) for a, b in itertools.pairwise(edges)]
    for case in range(2):
        finished = []
        for k in range(61):
            state = [removed[2, case, k, ch, s] for ch, s in blocks]
            partial = [i for i, v in enumerate(state) if v.any() and not v.all()]
            assert len(partial) <= 1  # one block at a time, removed as a prefix (time order)
            for i in partial:
                v = state[i]
                assert v[: v.sum()].all()
            finished += [i for i, v in enumerate(state) if v.all() and i not in finished]
        assert sorted(finished) == list(range(15))
        map_order = list(np.argsort(-levels.ravel(), kind="stable"))
        assert finished != map_order  # a random order of the blocks, not the map's
    # the point reference scatters: some step removes points of more than two blocks partly
    scattered = [
        sum(
            1
            for ch, s in blocks
            if removed[1, 0, k, ch, s].any() and not removed[1, 0, k, ch, s].all()
        )
        for k in range(61)
    ]
    assert max(scattered) > 2


def test_channel_map_reference_removes_whole_channels(linear, linear_x):
    channel_map = np.broadcast_to(np.array([3.0, 1.0, 2.0])[None, :, None], linear_x.shape)
    exp = _explanation(linear_x, channel_map, [0, 1, 2, 0])
    curve, removed = _removed_sets(linear, exp, -7.0, n_steps=3)  # a channel per step
    assert curve.reference == "channel"
    for k in range(4):
        per_channel = removed[2, :, k].reshape(4, 3, -1)
        assert np.all(per_channel.all(-1) | ~per_channel.any(-1))
        assert np.all(per_channel.all(-1).sum(-1) == k)


def test_a_map_without_runs_has_one_reference(linear, linear_x):
    exp = cl.explain(linear, linear_x, "input_x_gradient")
    curve = deletion(linear, exp, n_steps=8, imputation="linear")
    assert curve.reference == "point"
    np.testing.assert_array_equal(curve.block_random_scores, curve.random_scores)
    np.testing.assert_array_equal(curve.matched_random_auc, curve.random_auc)


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_linear_imputation_on_a_linear_model_is_the_closed_form(linear, linear_x, kind):
    exp = cl.explain(linear, linear_x, "input_x_gradient")
    weights, bias = _linear_parts(linear)
    n_steps = 6
    curve = (deletion if kind == "deletion" else insertion)(
        linear, exp, imputation="linear", n_steps=n_steps
    )
    c, t = linear_x.shape[1:]
    counts = np.rint(np.linspace(0, 1, n_steps + 1) * c * t).astype(int)
    for i in range(len(linear_x)):
        k = exp.target[i]
        order = np.argsort(-exp.attributions[i].astype(np.float64).ravel(), kind="stable")
        for step, count in enumerate(counts):
            removed = np.zeros(c * t, bool)
            removed[order[:count]] = True
            missing = (removed if kind == "deletion" else ~removed).reshape(c, t)
            series = linear_x[i].astype(np.float64).copy()
            for ch in range(c):
                kept = np.flatnonzero(~missing[ch])
                series[ch] = np.interp(np.arange(t), kept, series[ch, kept]) if len(kept) else 0.0
            expected = (weights[k].reshape(c, t) * series).sum() + bias[k]
            assert curve.scores[i, step] == pytest.approx(expected, abs=1e-4)
    assert curve.imputation == "linear"


def test_reference_names_the_planted_shape_of_the_map():
    from chronolens.metrics._references import reference_kind

    rng = np.random.default_rng(5)
    smooth = rng.normal(size=(2, 3, 30))
    few_ties = smooth.copy()
    few_ties[0, 0, 5] = few_ties[0, 0, 4]  # one tie does not make a segment map
    segments = np.repeat(rng.normal(size=(2, 3, 6)), 5, axis=-1)
    channels = np.repeat(rng.normal(size=(2, 3, 1)), 30, axis=-1)
    kinds = [reference_kind(v) for v in (smooth, few_ties, segments, channels)]
    assert kinds == ["point", "point", "block", "channel"]
    assert reference_kind(channels[:, :1]) == "block"  # one channel: a single long block
