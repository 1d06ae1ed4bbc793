import numpy as np
import pytest

from chronolens.datasets import make_box, make_dcam, make_interpret_time
from chronolens.datasets.box import BOX_KINDS
from chronolens.datasets.dcam import dcam_patterns


def _threshold_accuracy(feature, y, n_train):
    """Fit the best single threshold (either direction) on the training part; test accuracy."""
    train, test = feature[:n_train], feature[n_train:]
    candidates = np.unique(train)
    best, best_acc = 0.0, -1.0
    for sign in (1, -1):
        for c in candidates:
            acc = np.mean((sign * (train - c) > 0) == y[:n_train])
            if acc > best_acc:
                best, best_acc, best_sign = c, acc, sign
    return float(np.mean((best_sign * (test - best) > 0) == y[n_train:]))


def _nearest_centroid_accuracy(features, y, n_train):
    train, test = features[:n_train], features[n_train:]
    classes = np.unique(y)
    mean, std = train.mean(0), train.std(0) + 1e-8
    centroids = np.stack([((train - mean) / std)[y[:n_train] == k].mean(0) for k in classes])
    distance = ((((test - mean) / std)[:, None] - centroids[None]) ** 2).sum(-1)
    return float(np.mean(classes[distance.argmin(1)] == y[n_train:]))


def _spectral_centroid(X):
    """Power-weighted mean frequency above 5 cycles per series (above the base sines)."""
    power = (np.abs(np.fft.rfft(X, axis=-1)) ** 2).sum(1)[:, 6:]
    bins = np.arange(power.shape[-1])
    return (power * bins).sum(-1) / np.maximum(power.sum(-1), 1e-12)


# ----------------------------------------------------------------------- InterpretTime


def test_interpret_time_shapes_and_mask_structure():
    X, y, mask = make_interpret_time(30, seed=1)
    assert X.shape == mask.shape == (30, 8, 500) and X.dtype == np.float32
    assert set(np.unique(y)) <= {0, 1}
    for case in mask:
        channels = np.flatnonzero(case.any(1))
        assert len(channels) == 2
        for channel in channels:
            where = np.flatnonzero(case[channel])
            assert len(where) == 100 and np.all(np.diff(where) == 1)


def test_interpret_time_is_seeded():
    a, b, c = (make_interpret_time(5, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert not np.array_equal(a.X, c.X)


def test_interpret_time_label_lives_in_the_mask():
    X, y, mask = make_interpret_time(1200, seed=0, noise=0.0)
    inside = _threshold_accuracy(_spectral_centroid(X * mask), y, 600)
    outside = _threshold_accuracy(_spectral_centroid(X * ~mask), y, 600)
    assert inside > 0.85  # a crude frequency estimate; cases near the threshold are hard
    assert abs(outside - 0.5) < 0.07


# ------------------------------------------------------------------------------- box


@pytest.mark.parametrize("kind", BOX_KINDS)
def test_box_shapes_mask_and_label(kind):
    X, y, mask = make_box(kind, 400, seed=2)
    assert X.shape == mask.shape == (400, 50, 50)
    assert np.bincount(y).tolist() == [200, 200]
    sizes = mask.reshape(400, -1).sum(1)
    assert np.all(sizes == sizes[0]) and sizes[0] > 0
    starts = mask.any(1).argmax(1)
    assert (len(np.unique(starts)) > 1) == kind.startswith("Moving")
    # The box is N(+1, 1) for class 1 and N(-1, 1) for class 0; outside, N(0, 1).
    box_mean = np.array([x[m].mean() for x, m in zip(X, mask)])
    assert np.mean(np.sign(box_mean) == 2 * y - 1) > 0.95
    outside = X[~mask]
    assert abs(outside.mean()) < 0.02 and abs(outside.std() - 1) < 0.02
    # Masked out, the data tells nothing about the class.
    features = np.stack([(x * ~m).mean(1) for x, m in zip(X, mask)])
    assert abs(_nearest_centroid_accuracy(features, y, 200) - 0.5) < 0.1


def test_box_is_seeded_and_checks_kind():
    np.testing.assert_array_equal(make_box(seed=1).X, make_box(seed=1).X)
    with pytest.raises(ValueError, match="kind"):
        make_box("middle")


# ------------------------------------------------------------------------------ dCAM


def _pattern_scores(X, patterns):
    """Best normalised correlation of each pattern anywhere in any dimension."""
    length = patterns.shape[1]
    windows = np.lib.stride_tricks.sliding_window_view(X, length, axis=-1)
    windows = windows - windows.mean(-1, keepdims=True)
    windows /= np.linalg.norm(windows, axis=-1, keepdims=True) + 1e-8
    templates = patterns / np.linalg.norm(patterns, axis=1, keepdims=True)
    return np.einsum("ncwl,kl->nkcw", windows, templates).max(axis=(2, 3))


def test_dcam_type1_pattern_decides_the_class():
    X, y, mask = make_dcam("type1", n_channels=5, n_cases=300, n_classes=3, seed=0)
    assert X.shape == (300, 5, 200) and np.bincount(y).tolist() == [100, 100, 100]
    assert np.all(mask.reshape(300, -1).sum(1) == 40)
    assert np.all(mask.any(2).sum(1) == 1)
    patterns = dcam_patterns()[:3]
    assert np.mean(_pattern_scores(X, patterns).argmax(1) == y) > 0.95
    masked_out = np.where(mask, 0.0, X)
    assert abs(np.mean(_pattern_scores(masked_out, patterns).argmax(1) == y) - 1 / 3) < 0.1


def test_dcam_type2_class_is_co_occurrence():
    X, y, mask = make_dcam("type2", n_channels=6, n_cases=200, seed=1)
    for case, label in zip(mask, y):
        dims = np.flatnonzero(case.any(1))
        assert len(dims) == 2
        a, b = (np.flatnonzero(case[d]) for d in dims)
        assert len(a) == len(b) == 40
        if label == 1:
            assert a[0] == b[0]
        else:
            assert abs(int(a[0]) - int(b[0])) >= 40
    # Both classes hold both patterns, so "which pattern" carries no information.
    scores = _pattern_scores(X, dcam_patterns()[:2])
    assert np.all(scores > 0.99)


def test_dcam_checks_and_seeds():
    np.testing.assert_array_equal(make_dcam(seed=2).X, make_dcam(seed=2).X)
    with pytest.raises(ValueError, match="kind"):
        make_dcam("type3")
    with pytest.raises(ValueError, match="n_timepoints"):
        make_dcam("type1", n_timepoints=50)
