"""make_webtraffic against the structure MILLET's generator defines."""

from __future__ import annotations

import numpy as np
import pytest

from chronolens.datasets import make_webtraffic


def test_shapes_classes_and_masks_follow_millet() -> None:
    data = make_webtraffic(60, seed=3)
    X, y, mask = data
    assert X.shape == (60, 1, 1008) and X.dtype == np.float32 and mask.shape == X.shape
    assert data.class_names[0] == "none" and data.class_names[1] == "spikes"
    np.testing.assert_array_equal(np.bincount(y), [6] * 10)
    assert mask[y == 0].all()  # class 0: every time step is evidence
    spikes = mask[y == 1, 0].sum(axis=1)
    assert (spikes < 40).all()  # about 1 % of 1,008 points
    for case in np.flatnonzero(y >= 2):  # one window of 36..288 points
        marked = np.flatnonzero(mask[case, 0])
        assert 36 <= marked.size <= 288
        assert marked[-1] - marked[0] + 1 == marked.size


def test_normalised_per_series_and_seeded() -> None:
    X, _, _ = make_webtraffic(10, seed=0)
    np.testing.assert_allclose(X.mean(axis=2), 0.0, atol=1e-5)
    np.testing.assert_allclose(X.std(axis=2, ddof=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(X, make_webtraffic(10, seed=0).X)
    assert not np.array_equal(X, make_webtraffic(10, seed=1).X)
    raw = make_webtraffic(10, seed=0, normalize=False).X
    assert raw.min() >= 0.0  # clipped at zero like MILLET's traffic


def test_cutoff_window_is_near_zero_and_traffic_positive() -> None:
    X, y, mask = make_webtraffic(30, seed=5, normalize=False)
    for case in np.flatnonzero(y == 5):  # cutoff: N(U(0, .2), .1) clipped at 0
        assert X[case, 0][mask[case, 0]].mean() < 0.35
    for case in np.flatnonzero(y == 0):
        assert X[case, 0].mean() > 1.0  # traffic around an intercept of 2.5..5 times ~1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_cases"):
        make_webtraffic(0)
    with pytest.raises(TypeError, match="normalize"):
        make_webtraffic(5, normalize="yes")  # type: ignore[arg-type]
