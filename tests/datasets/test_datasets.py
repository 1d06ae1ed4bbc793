import dataclasses

import numpy as np
import pytest

from chronolens.datasets import Dataset, load_basic_motions, make_sensor_events
from chronolens.datasets.sensor_events import _CLASSES, _sensor_events, _templates

# --------------------------------------------------------------------------- helpers


def _logistic(train_x, train_y, test_x, n_classes, *, l2=1e-2, steps=400, lr=0.5):
    """Multinomial logistic regression by gradient descent on standardised features."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-8
    a, b = (train_x - mean) / std, (test_x - mean) / std
    weights, bias = np.zeros((a.shape[1], n_classes)), np.zeros(n_classes)
    onehot = np.eye(n_classes)[train_y]
    for _ in range(steps):
        z = a @ weights + bias
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = p - onehot
        weights -= lr * (a.T @ grad / len(a) + l2 * weights)
        bias -= lr * grad.mean(0)
    return (b @ weights + bias).argmax(1)


def _nearest_centroid(train_x, train_y, test_x, n_classes):
    mean, std = train_x.mean(0), train_x.std(0) + 1e-8
    a, b = (train_x - mean) / std, (test_x - mean) / std
    centroids = np.stack([a[train_y == k].mean(0) for k in range(n_classes)])
    return ((b[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)


def _accuracy(features, y, classifier=_logistic, n_train=800):
    predicted = classifier(features[:n_train], y[:n_train], features[n_train:], 4)
    return float((predicted == y[n_train:]).mean())


def _global_stats(X):
    """Per-channel mean and standard deviation: the 'trivial offset or variance' features."""
    return np.concatenate([X.mean(2), X.std(2)], axis=1)


def _local_features(X, n_segments=10):
    """Energy, spread, roughness and range of each channel in each of ``n_segments`` segments."""
    n, c, t = X.shape
    usable = t - t % n_segments
    seg = X[:, :, :usable].reshape(n, c, n_segments, -1)
    centred = seg - X.mean(2)[:, :, None, None]
    rough = np.abs(np.diff(X, axis=2, append=X[:, :, -1:]))[:, :, :usable]
    rough = rough.reshape(n, c, n_segments, -1)
    feats = [(centred**2).mean(-1), seg.std(-1), rough.mean(-1), np.ptp(seg, axis=-1)]
    return np.concatenate(feats, axis=1).reshape(n, -1)


def _matched_filter_scores(X, n_timepoints=300):
    """Per class: best correlation of the class shape, in the class channel(s) and window."""
    length = round(0.1 * n_timepoints)
    templates = _templates(length)
    scores = []
    for spec in _CLASSES:
        lo = round(spec.window[0] * n_timepoints)
        hi = round(spec.window[1] * n_timepoints)
        template = templates[spec.shape_index] - templates[spec.shape_index].mean()
        template /= np.linalg.norm(template)
        total = 0.0
        for channel in spec.channels:
            windows = np.lib.stride_tricks.sliding_window_view(X[:, channel, lo:hi], length, -1)
            centred = windows - windows.mean(-1, keepdims=True)
            total = total + centred @ template / (np.linalg.norm(centred, axis=-1) + 1e-8)
        scores.append(total.max(-1) / len(spec.channels))
    return np.stack(scores, axis=1)


def _exact_hits(series, template):
    """Where an exact scaled copy of ``template`` starts in noise-free ``series`` (n, t)."""
    windows = np.lib.stride_tricks.sliding_window_view(series, len(template), -1)
    norms = np.linalg.norm(windows, axis=-1) * np.linalg.norm(template)
    return windows @ template > 0.999 * np.maximum(norms, 1e-12)


def _runs(row):
    """(start, stop) of each run of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


@pytest.fixture(scope="module")
def big():
    """1200 cases (800 to train, 400 to test) and the same series without their class event."""
    data, rest = _sensor_events(
        1200, n_channels=9, n_timepoints=300, n_classes=4, noise=1.0, seed=7
    )
    return data, rest


@pytest.fixture(scope="module")
def clean():
    """Noise-free series: background is zero, so only the events are left."""
    return _sensor_events(200, n_channels=9, n_timepoints=300, n_classes=4, noise=0.0, seed=3)


# --------------------------------------------------------------------------- BasicMotions


@pytest.mark.parametrize("split", ["train", "test"])
def test_basic_motions_split(split):
    data = load_basic_motions(split)
    assert isinstance(data, Dataset)
    assert data.X.shape == (40, 6, 100) and data.X.dtype == np.float32
    assert data.y.shape == (40,) and data.y.dtype == np.int64
    assert np.bincount(data.y).tolist() == [10, 10, 10, 10]
    assert data.mask is None
    assert data.class_names == ("Standing", "Running", "Walking", "Badminton")
    assert data.channel_names == ("accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z")
    assert np.isfinite(data.X).all()
    assert len(data) == 40 and "BasicMotions" in repr(data)


def test_basic_motions_values_match_the_archive():
    X, y = load_basic_motions("train")
    # first values of the first case, channel 0, in BasicMotions_TRAIN.ts
    np.testing.assert_allclose(X[0, 0, :3], [0.079106, 0.079106, -0.903497], rtol=1e-6)
    assert y[0] == 0  # "Standing"
    X_test, _ = load_basic_motions("test")
    assert X_test[0, 0, 2] == pytest.approx(10.208449, rel=1e-6)


def test_basic_motions_none_concatenates_train_then_test():
    train, test, both = (load_basic_motions(s) for s in ("train", "test", None))
    assert both.X.shape == (80, 6, 100) and len(both) == 80
    np.testing.assert_array_equal(both.X, np.concatenate([train.X, test.X]))
    np.testing.assert_array_equal(both.y, np.concatenate([train.y, test.y]))
    assert np.bincount(both.y).tolist() == [20, 20, 20, 20]
    assert load_basic_motions().X.shape == (40, 6, 100)  # default split is train


@pytest.mark.parametrize("split", ["validation", "", 0])
def test_basic_motions_bad_split(split):
    with pytest.raises(ValueError, match="`split` must be 'train', 'test' or None"):
        load_basic_motions(split)


# --------------------------------------------------------------------------- Dataset


def _tiny(mask=True):
    X = np.zeros((3, 2, 5), dtype=np.float32)
    return Dataset(
        X=X,
        y=np.array([0, 1, 0]),
        mask=np.zeros(X.shape, dtype=bool) if mask else None,
        class_names=("a", "b"),
        channel_names=("u", "v"),
        name="tiny",
    )


def test_dataset_unpacks_two_without_mask_three_with_mask():
    X, y = _tiny(mask=False)
    assert X.shape == (3, 2, 5) and y.dtype == np.int64
    X, y, mask = _tiny(mask=True)
    assert mask.shape == X.shape and mask.dtype == bool
    with pytest.raises(ValueError):
        X, y = _tiny(mask=True)
    with pytest.raises(ValueError):
        X, y, mask = _tiny(mask=False)
    assert len(list(load_basic_motions())) == 2
    assert len(list(make_sensor_events(8))) == 3


def test_dataset_len_repr_frozen():
    data = _tiny()
    assert len(data) == 3
    assert repr(data) == (
        "Dataset('tiny': 3 cases x 2 channels x 5 timepoints, 2 classes, mask=yes)"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.name = "other"


def test_dataset_checks_its_fields():
    X = np.zeros((3, 2, 5), dtype=np.float32)
    good = dict(X=X, y=[0, 1, 0], mask=None, class_names=("a", "b"), channel_names=("u", "v"))
    assert Dataset(**good, name="ok").X.dtype == np.float32
    with pytest.raises(ValueError, match="`X` must have shape"):
        Dataset(**{**good, "X": X[0]}, name="x")
    with pytest.raises(ValueError, match="`y` must be an integer array of shape"):
        Dataset(**{**good, "y": [0, 1]}, name="x")
    with pytest.raises(ValueError, match="range"):
        Dataset(**{**good, "y": [0, 1, 2]}, name="x")
    with pytest.raises(ValueError, match="`mask` must be a boolean array"):
        Dataset(**{**good, "mask": np.zeros((3, 2, 4), dtype=bool)}, name="x")
    with pytest.raises(ValueError, match="`channel_names` must hold one name per channel"):
        Dataset(**{**good, "channel_names": ("u",)}, name="x")
    with pytest.raises(TypeError, match="`class_names` must be a sequence of strings"):
        Dataset(**{**good, "class_names": "ab"}, name="x")


# --------------------------------------------------------------------------- sensor events


def test_sensor_events_shapes_and_names():
    data = make_sensor_events()
    X, y, mask = data
    assert X.shape == mask.shape == (400, 9, 300)
    assert X.dtype == np.float32 and y.dtype == np.int64 and mask.dtype == bool
    assert np.isfinite(X).all()
    assert np.bincount(y).tolist() == [100, 100, 100, 100]
    assert data.class_names == ("bump@ch0", "sine@ch2", "square@ch4", "saw@ch6+ch7")
    assert data.channel_names == tuple(f"sensor_{c}" for c in range(9))
    assert len(data) == 400 and "mask=yes" in repr(data)
    assert not np.array_equal(y[:8], np.arange(8) % 4)  # labels are shuffled


def test_sensor_events_is_deterministic_per_seed():
    a, b, c = make_sensor_events(40, seed=5), make_sensor_events(40, seed=5), make_sensor_events(40)
    for first, second in zip(a, b, strict=True):
        np.testing.assert_array_equal(first, second)
    assert not np.allclose(a.X, c.X)
    assert not np.array_equal(a.mask, c.mask)
    generator = make_sensor_events(40, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(generator.X, a.X)


@pytest.mark.parametrize("n_timepoints", [100, 300, 451])
def test_mask_lies_in_the_class_channels_and_window(n_timepoints):
    data = make_sensor_events(60, n_timepoints=n_timepoints, seed=1)
    length = round(0.1 * n_timepoints)
    for i in range(len(data)):
        spec = _CLASSES[data.y[i]]
        in_channels = data.mask[i].any(axis=1)
        assert np.flatnonzero(in_channels).tolist() == list(spec.channels)
        runs = {tuple(r) for c in spec.channels for r in _runs(data.mask[i, c])}
        assert len(runs) == 1  # one span, the same in every class channel
        ((start, stop),) = runs
        assert stop - start == length
        assert round(spec.window[0] * n_timepoints) <= start
        assert stop <= round(spec.window[1] * n_timepoints)


def test_mask_is_exactly_the_planted_class_event(clean):
    data, rest = clean
    event = data.X - rest  # with noise=0, X = distractors (rest) + the class event
    assert not (event[~data.mask]).any()
    templates = _templates(30)
    for i in range(len(data)):
        spec = _CLASSES[data.y[i]]
        for channel in spec.channels:
            segment = event[i, channel][data.mask[i, channel]]
            template = templates[spec.shape_index]
            scale = segment @ template / (template @ template)
            np.testing.assert_allclose(segment, scale * template, atol=1e-5)  # the shape, scaled
            assert 2.0 - 1e-4 <= scale <= 3.0 + 1e-4


def test_distractors_never_form_a_class_event(clean):
    _, rest = clean
    # rest holds only distractors here; events are exact, non-overlapping copies of the shapes
    length = 30
    templates = _templates(length)
    n_distractor_points = (rest != 0).sum(axis=(1, 2))
    assert (n_distractor_points >= 9 * 0.6 * length).all()  # at least 9 distractors per case
    for spec in _CLASSES:
        template = templates[spec.shape_index]
        hits = []
        for channel in spec.channels:
            hits.append(_exact_hits(rest[:, channel], template))
        if len(hits) == 1:
            assert not hits[0].any(), spec.name
        else:  # a sawtooth may sit in channel 6 or 7, never in both within one event length
            near = np.lib.stride_tricks.sliding_window_view(
                np.pad(hits[1], ((0, 0), (length, length))), 2 * length + 1, -1
            ).any(-1)
            assert hits[0].any() and hits[1].any()
            assert not (hits[0] & near).any(), spec.name
    # the other shapes do appear in a class channel, and the class shape in other channels
    assert _exact_hits(rest[:, 0], templates[1]).any()  # a sine in channel 0
    assert _exact_hits(rest[:, 1], templates[0]).any()  # a bump in channel 1


def test_other_sizes_and_class_counts():
    data = make_sensor_events(10, n_channels=3, n_timepoints=120, n_classes=2, seed=2)
    assert data.X.shape == (10, 3, 120)
    assert data.class_names == ("bump@ch0", "sine@ch2")
    assert np.bincount(data.y).tolist() == [5, 5]
    assert data.mask.sum(axis=(1, 2)).tolist() == [12] * 10
    three = make_sensor_events(7, n_channels=5, n_classes=3)
    assert np.bincount(three.y).tolist() == [3, 2, 2]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_cases": 3}, ValueError, "`n_cases` must be at least 4"),
        ({"n_cases": 4.0}, TypeError, "`n_cases` must be an integer"),
        ({"n_channels": 7}, ValueError, "`n_channels` must be at least 8"),
        ({"n_channels": 4, "n_classes": 3}, ValueError, "`n_channels` must be at least 5"),
        ({"n_timepoints": 99}, ValueError, "`n_timepoints` must be at least 100"),
        ({"n_classes": 5}, ValueError, "`n_classes` must be at most 4"),
        ({"n_classes": 1}, ValueError, "`n_classes` must be at least 2"),
        ({"noise": -0.1}, ValueError, "`noise` must be a finite number >= 0"),
        ({"noise": float("nan")}, ValueError, "`noise` must be a finite number"),
        ({"noise": "high"}, TypeError, "`noise` must be a number"),
        ({"seed": 1.5}, TypeError, "`seed` must be an int"),
    ],
)
def test_sensor_events_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_sensor_events(**{"n_cases": 8, **kwargs})


# --------------------------------------------------------------------------- the mask decides


def test_masked_region_alone_decides_the_label(big):
    data, _ = big
    accuracy = _accuracy(_local_features(data.X * data.mask), data.y)
    assert accuracy >= 0.95


def test_without_the_masked_event_the_label_is_at_chance(big):
    data, rest = big
    assert _accuracy(_local_features(rest), data.y) < 0.45
    assert _accuracy(_local_features(rest), data.y, _nearest_centroid) < 0.45
    assert _accuracy(_global_stats(rest), data.y) < 0.45
    assert _accuracy(_matched_filter_scores(rest), data.y) < 0.45


def test_global_mean_and_spread_do_not_decide_the_label(big):
    data, _ = big
    assert _accuracy(_global_stats(data.X), data.y) < 0.6
    assert _accuracy(_global_stats(data.X), data.y, _nearest_centroid) < 0.6


def test_the_class_event_is_detectable_in_the_full_series(big):
    data, _ = big
    # knowing the shapes, channels and windows recovers the label despite noise and distractors
    scores = _matched_filter_scores(data.X)
    assert float((scores.argmax(1) == data.y).mean()) >= 0.9
    assert _accuracy(scores, data.y) >= 0.9


def test_subset_keeps_names_and_mask():
    from chronolens.datasets import make_sensor_events

    data = make_sensor_events(20, seed=0)
    part = data.subset(slice(5, 9))
    assert len(part) == 4 and part.n_classes == data.n_classes == 4
    np.testing.assert_array_equal(part.mask, data.mask[5:9])
    assert part.channel_names == data.channel_names


@pytest.mark.parametrize(
    "index",
    [
        0,
        2,
        -1,
        -3,
        np.int64(1),
        slice(1, 3),
        slice(None, None, -1),
        slice(5, 9),
        [2, 0, 2],
        np.array([1, 2]),
        [],
        np.array([True, False, True]),
        [False, False, False],
    ],
)
@pytest.mark.parametrize("mask", [True, False])
def test_dataset_indexing_matches_subset_and_numpy(index, mask):
    X = np.arange(30, dtype=np.float32).reshape(3, 2, 5)
    data = Dataset(
        X=X,
        y=np.array([0, 1, 0]),
        mask=(X % 3 == 0) if mask else None,
        class_names=("a", "b"),
        channel_names=("u", "v"),
        name="tiny",
    )
    part = data[index]
    assert isinstance(part, Dataset)
    as_array = [index] if isinstance(index, int | np.integer) else index
    expected = data.subset(as_array)
    np.testing.assert_array_equal(part.X, data.X[as_array])
    np.testing.assert_array_equal(part.y, data.y[as_array])
    np.testing.assert_array_equal(part.X, expected.X)
    np.testing.assert_array_equal(part.y, expected.y)
    if mask:
        np.testing.assert_array_equal(part.mask, data.mask[as_array])
        np.testing.assert_array_equal(part.mask, expected.mask)
    else:
        assert part.mask is None
    assert len(part) == len(part.y) == part.X.shape[0]
    assert (part.class_names, part.channel_names, part.name) == (("a", "b"), ("u", "v"), "tiny")
    assert len(list(part)) == (3 if mask else 2)  # unpacking is unchanged


def test_dataset_int_index_is_a_one_case_dataset():
    data = make_sensor_events(6, seed=3)
    X, y, mask = data[4]
    assert X.shape == (1, 9, 300) and y.shape == (1,) and mask.shape == (1, 9, 300)
    np.testing.assert_array_equal(X[0], data.X[4])
    assert int(y[0]) == int(data.y[4])
    np.testing.assert_array_equal(data[-1].X, data.subset(slice(5, 6)).X)


def test_dataset_bad_indices():
    data = _tiny()
    for index in (3, -4):
        with pytest.raises(IndexError, match="out of range"):
            data[index]
    with pytest.raises(IndexError):
        data[[0, 3]]
    with pytest.raises(IndexError, match="one value per case"):
        data[np.array([True, False])]
    for index in ((0, 1), "a", True, None, 1.5, np.zeros((2, 2), dtype=int), [0.5]):
        with pytest.raises(TypeError, match="indexed by cases only"):
            data[index]


# --------------------------------------------------------------------------- make_dcam


def _same_dataset(a, b):
    for field in ("X", "y", "mask"):
        got, want = getattr(a, field), getattr(b, field)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), field
    assert (a.class_names, a.channel_names, a.name) == (b.class_names, b.channel_names, b.name)


@pytest.mark.parametrize("kind, new_kind", [(1, "type1"), (2, "type2")])
@pytest.mark.parametrize("seed", [0, 7])
def test_make_dcam_new_spellings_give_identical_data(kind, new_kind, seed):
    from chronolens.datasets import make_dcam

    kwargs = dict(n_cases=40, n_timepoints=150, pattern_length=30, seed=seed)
    if kind == 1:
        kwargs["n_classes"] = 3
    with pytest.warns(DeprecationWarning):
        old = make_dcam(kind, n_dims=5, **kwargs)
    new = make_dcam(new_kind, n_channels=5, **kwargs)
    _same_dataset(new, old)
    _same_dataset(make_dcam(new_kind, 5, **kwargs), old)  # n_channels is still positional
    assert new.X.shape == (40, 5, 150)


def test_make_dcam_defaults_are_type1_with_10_channels():
    import warnings

    from chronolens.datasets import make_dcam

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new = make_dcam(n_cases=10)
        _same_dataset(make_dcam("type1", n_channels=10, n_cases=10), new)
    with pytest.warns(DeprecationWarning):
        _same_dataset(make_dcam(1, n_dims=10, n_cases=10), new)
    assert new.X.shape == (10, 10, 200) and new.name.startswith("dCAM Type 1")


def test_make_dcam_old_spellings_warn_and_name_the_new_ones():
    from chronolens.datasets import make_dcam

    with pytest.warns(DeprecationWarning, match="n_channels=") as record:
        make_dcam("type2", n_dims=4, n_cases=8)
    assert record[0].filename == __file__  # the warning points at the caller
    with pytest.warns(DeprecationWarning, match='kind="type2"') as record:
        make_dcam(2, n_channels=4, n_cases=8)
    assert record[0].filename == __file__
    with pytest.warns(DeprecationWarning, match='kind="type1"'):
        make_dcam(1, 4, 8)
    with pytest.warns(DeprecationWarning) as record:
        make_dcam(kind=2, n_dims=4, n_cases=8)
    assert len(record) == 2 and all(w.filename == __file__ for w in record)
    with pytest.raises(TypeError, match="both `n_channels` and its deprecated spelling"):
        make_dcam("type1", n_channels=4, n_dims=4)
    with pytest.raises(ValueError, match="`kind` must be \"type1\".*Did you mean 'type1'"):
        make_dcam("Type1")
    for kind in (3, 0, True, "1", None):
        with pytest.raises(ValueError, match="`kind` must be"):
            make_dcam(kind)
