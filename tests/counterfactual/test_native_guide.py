"""Native Guide against planted ground truth, a brute-force NUN search and literal distances."""

import numpy as np
import pytest
from tests.counterfactual.planted import (
    HI,
    LO,
    WindowModel,
    planted_window_data,
    window_black_box,
)

import chronolens as cl
from chronolens.testing import model_state
from chronolens.testing.checks import assert_model_unchanged


@pytest.fixture
def window_data():
    return planted_window_data()


def literal_dtw(a, b):
    """DTW of (c, t) series by the textbook recurrence, one cell at a time."""
    n, m = a.shape[1], b.shape[1]
    d = np.full((n + 1, m + 1), np.inf)
    d[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = sum((float(a[k, i - 1]) - float(b[k, j - 1])) ** 2 for k in range(a.shape[0]))
            d[i, j] = cost + min(d[i - 1, j], d[i, j - 1], d[i - 1, j - 1])
    return float(np.sqrt(d[n, m]))


def _check_window(cf, x):
    """The class flipped, and only one contiguous time window changed, overlapping 20..29."""
    assert cf.validity.all() and (cf.new_class == 1).all()
    for i in range(len(x)):
        times = np.flatnonzero(cf.changed[i].any(axis=0))
        assert times.size and np.array_equal(times, np.arange(times[0], times[-1] + 1))
        assert times[0] < HI and times[-1] >= LO  # overlaps the decisive region
        start, length = int(cf.window_start[i]), int(cf.window_length[i])
        assert start <= times[0] and times[-1] < start + length
        outside = np.ones_like(cf.changed[i])
        outside[:, start : start + length] = False
        assert not cf.changed[i][outside].any()
        diff = cf.counterfactual[i].astype(np.float64) - x[i].astype(np.float64)
        np.testing.assert_allclose(cf.l1[i], np.abs(diff).sum(), rtol=1e-9)
        np.testing.assert_allclose(cf.l2[i], np.sqrt((diff**2).sum()), rtol=1e-9)
        assert cf.sparsity[i] == pytest.approx(np.count_nonzero(diff) / diff.size)


def test_torch_model_flips_with_one_window_over_the_decisive_region(window_data):
    x, ref, y = window_data
    model = WindowModel()
    before, x_copy, ref_copy = model_state(model), x.copy(), ref.copy()
    cf = cl.counterfactual(model, x, reference=(ref, y))
    _check_window(cf, x)
    assert cf.params["relevance"] == "cam" and cf.params["distance"] == "dtw"
    # the copied values are the nearest unlike neighbour's
    nun = ref[cf.reference_index]
    np.testing.assert_array_equal(cf.counterfactual[cf.changed], nun[cf.changed])
    assert_model_unchanged(model, before)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(ref, ref_copy)


def test_black_box_and_channels_last(window_data):
    x, ref, y = window_data
    cf = cl.counterfactual(
        window_black_box,
        x.transpose(0, 2, 1),
        reference=(ref.transpose(0, 2, 1), y),
        layout="nlc",
        distance="euclidean",
    )
    _check_window(cf, x)
    assert cf.params["relevance"] == "occlusion" and cf.layout == "nlc"


def test_one_channel_window_changes_only_the_decisive_channel(window_data):
    x, ref, y = window_data
    cf = cl.counterfactual(WindowModel(), x, reference=(ref, y), window="one")
    assert cf.validity.all()
    assert cf.changed[:, 1].any(axis=1).all() and not cf.changed[:, [0, 2]].any()


def test_nearest_unlike_neighbour_matches_a_brute_force_loop():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 2, 12)).astype(np.float32)
    ref = rng.normal(size=(9, 2, 12)).astype(np.float32)
    y = rng.integers(0, 3, size=9)

    def model(batch):
        return np.stack([batch[:, 0].mean(1), batch[:, 1].mean(1), -batch.mean((1, 2))], 1)

    predicted = model(x).argmax(1)
    for distance, measure in [
        ("euclidean", lambda a, b: np.sqrt(((a.astype(float) - b) ** 2).sum())),
        ("dtw", literal_dtw),
    ]:
        cf = cl.counterfactual(
            model, x, reference=(ref, y), distance=distance, relevance="occlusion"
        )
        for i in range(len(x)):
            best, best_d = -1, np.inf
            for j in range(len(ref)):
                if y[j] != predicted[i]:
                    d = measure(x[i], ref[j])
                    if d < best_d:
                        best, best_d = j, d
            assert cf.reference_index[i] == best, (distance, i)


def test_dtw_proximity_matches_a_literal_dtw_loop(window_data):
    x, ref, y = window_data
    cf = cl.counterfactual(WindowModel(), x, reference=(ref, y))
    for i in range(len(x)):
        assert cf.dtw[i] == pytest.approx(literal_dtw(x[i], cf.counterfactual[i]), rel=1e-9)


def test_no_window_flips_validity_false_and_said(window_data):
    x, ref, y = window_data
    wrong = ref.copy()
    wrong[:, 1, :] = -1.0  # labelled 1, but the model classes every one of them 0
    cf = cl.counterfactual(WindowModel(), x, reference=(wrong, y), relevance="occlusion")
    assert not cf.validity.any() and (cf.new_class == 0).all()
    assert all("flips the class" in note for note in cf.notes)


def test_target_class_picks_a_neighbour_of_that_class():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 2, 16)).astype(np.float32)
    ref = rng.normal(size=(12, 2, 16)).astype(np.float32)
    y = np.arange(12) % 3

    def model(batch):
        parts = [batch[:, 0, :8].mean(1), batch[:, 1, 8:].mean(1), batch[:, 0, 8:].mean(1)]
        return np.stack(parts, 1)

    original = model(x).argmax(1)
    target = [(c + 1) % 3 for c in original]
    cf = cl.counterfactual(model, x, target, reference=(ref, y), relevance="occlusion")
    assert all(y[cf.reference_index[i]] == target[i] for i in range(2))
    assert np.array_equal(cf.validity, cf.new_class == np.asarray(target))
