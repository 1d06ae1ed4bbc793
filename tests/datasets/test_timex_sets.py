"""FreqShapes, SeqComb-UV / -MV and LowVar: the papers' rules, and the mask decides the class."""

import numpy as np
import pytest
from tests.datasets.test_datasets import _local_features, _logistic

from chronolens.datasets import make_freq_shapes, make_lowvar, make_seqcomb_mv, make_seqcomb_uv
from chronolens.datasets._narma import narma

N_TRAIN = 800


def _accuracy(features, y):
    predicted = _logistic(features[:N_TRAIN], y[:N_TRAIN], features[N_TRAIN:], 4)
    return float((predicted == y[N_TRAIN:]).mean())


def _runs(row):
    """(start, stop) of each run of True in a boolean vector."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2], strict=True))


def _spectrum_and_extremes(X):
    """Magnitude spectrum (the period) and the three largest and smallest values (the sign)."""
    spectrum = np.abs(np.fft.rfft(X - X.mean(-1, keepdims=True), axis=-1)).reshape(len(X), -1)
    ordered = np.sort(X.reshape(len(X), -1), axis=1)
    return np.column_stack([spectrum, ordered[:, :3], ordered[:, -3:]])


def test_narma_is_the_literal_recurrence():
    got = narma(np.random.default_rng(3), (2,), 60)
    u = np.random.default_rng(3).uniform(0.0, 0.5, size=(2, 60))
    for row in range(2):
        y = np.zeros(60)
        for k in range(1, 59):
            inputs = 1.5 * u[row, k - 1] * u[row, k]
            y[k + 1] = 0.3 * y[k] + 0.05 * y[k] * (y[k] + y[k - 1]) + inputs + 0.1
        np.testing.assert_allclose(got[row], y, rtol=1e-12)


@pytest.mark.parametrize(
    "make, shape",
    [
        (make_freq_shapes, (1, 50)),
        (make_seqcomb_uv, (1, 200)),
        (make_seqcomb_mv, (4, 200)),
        (make_lowvar, (2, 200)),
    ],
)
def test_shapes_balance_and_seed(make, shape):
    data = make(42, seed=7)
    assert data.X.shape == data.mask.shape == (42, *shape) and data.X.dtype == np.float32
    assert np.bincount(data.y).tolist() == [10, 10, 10, 12]
    np.testing.assert_array_equal(data.X, make(42, seed=7).X)
    assert not np.array_equal(data.X, make(42, seed=8).X)


def test_freq_shapes_spikes_follow_the_class_rule():
    data = make_freq_shapes(200, noise=0.0, seed=1)
    for x, code, mask in zip(data.X[:, 0], data.y, data.mask[:, 0], strict=True):
        runs = _runs(mask)
        assert len(runs) >= 1 and all(b - a == 3 for a, b in runs)
        centres = np.flatnonzero(mask)[1::3]  # one spike only when the train starts late
        assert set(np.diff(centres)) <= {10 if code < 2 else 17}
        sign = 1 if code % 2 else -1
        spikes = np.tile(sign * np.array([1.75, 2.0, 1.75]), len(centres))
        np.testing.assert_allclose(x[mask], spikes)
        assert np.all(x[~mask] == 0)


def test_freq_shapes_mask_decides_the_class():
    data = make_freq_shapes(1200, seed=2)
    inside = np.where(data.mask, data.X, 0.0)
    rest = np.where(data.mask, np.random.default_rng(0).normal(0, 0.25, data.X.shape), data.X)
    assert _accuracy(_spectrum_and_extremes(data.X), data.y) > 0.9
    assert _accuracy(_spectrum_and_extremes(inside), data.y) > 0.9
    assert _accuracy(_spectrum_and_extremes(rest), data.y) < 0.33


@pytest.mark.parametrize(
    "make, lengths", [(make_seqcomb_uv, (10, 19)), (make_seqcomb_mv, (15, 29))]
)
def test_seqcomb_subsequences_follow_the_class_rule(make, lengths):
    data = make(400, seed=3)
    for x, code, mask in zip(data.X, data.y, data.mask, strict=True):
        if code == 0:
            assert not mask.any()
            continue
        runs = [(c, a, b) for c in range(len(mask)) for a, b in _runs(mask[c])]
        if len(runs) == 1:  # both in one channel (SeqComb-UV) and touching
            _, a, b = runs[0]
            assert 2 * lengths[0] <= b - a <= 2 * lengths[1]
            continue
        runs.sort(key=lambda run: run[1])
        assert len(runs) == 2 and runs[0][2] <= runs[1][1]  # the second after the first
        if make is make_seqcomb_mv:
            assert runs[0][0] != runs[1][0]
        slopes = [np.polyfit(np.arange(b - a), x[c, a:b], 1)[0] for c, a, b in runs]
        expected = {1: (-1, -1), 2: (1, 1), 3: (1, -1)}[int(code)]
        assert tuple(np.sign(slopes)) == expected
        assert all(lengths[0] <= b - a <= lengths[1] for _, a, b in runs)


@pytest.mark.parametrize("make", [make_seqcomb_uv, make_seqcomb_mv])
def test_seqcomb_mask_decides_the_class(make):
    data = make(1200, seed=4)
    n, c, t = data.X.shape
    background = narma(np.random.default_rng(1), (n, c), t) + np.random.default_rng(2).normal(
        0, 0.01, (n, c, t)
    )
    rest = np.where(data.mask, background, data.X)
    assert _accuracy(_local_features(rest, n_segments=20), data.y) < 0.33
    assert _accuracy(_local_features(data.X, n_segments=20), data.y) > 0.4


def test_lowvar_stretch_follows_the_class_rule_and_decides_it():
    data = make_lowvar(1200, seed=5)
    channel = data.mask.any(axis=2).argmax(axis=1)
    np.testing.assert_array_equal(channel, data.y // 2)
    inside_mean = np.array([x[m].mean() for x, m in zip(data.X, data.mask, strict=True)])
    np.testing.assert_array_equal(inside_mean > 0, data.y % 2 == 1)
    assert all(10 <= m.sum() <= 19 for m in data.mask)
    n, c, t = data.X.shape
    background = narma(np.random.default_rng(1), (n, c), t) + np.random.default_rng(2).normal(
        size=(n, c, t)
    )
    rest = np.where(data.mask, background, data.X)
    assert _accuracy(_local_features(rest, n_segments=20), data.y) < 0.33


@pytest.mark.parametrize(
    "make, kwargs, match",
    [
        (make_seqcomb_uv, {"n_timepoints": 50}, "at least 80"),
        (make_seqcomb_mv, {"n_channels": 1}, "at least 2"),
        (make_lowvar, {"n_timepoints": 60}, "at least 80"),
        (make_freq_shapes, {"noise": -1.0}, "at least 0"),
    ],
)
def test_argument_errors(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(8, **kwargs)
