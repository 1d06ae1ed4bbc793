"""Imputations against their definitions: a literal interpolation loop, ROAD's neighbour system
solved densely with numpy, scipy's Gaussian filter, and the statistics of the added noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from chronolens.metrics import impute
from chronolens.metrics.imputation import IMPUTATIONS


def _data(seed=0, n=3, c=2, t=17, share=0.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, t))
    missing = rng.random((n, c, t)) < share
    missing[0, 0, :3] = True  # a removed start: the first kept value is held
    missing[0, 1, -4:] = True  # a removed end: the last kept value is held
    missing[1, 0] = True  # a channel with no kept point: the fill
    missing[2, 1] = False  # nothing removed
    return x, missing


def _literal_linear(row, removed, fill):
    """Walk to the nearest kept neighbour on each side; interpolate, hold an edge, or fill."""
    out = row.copy()
    t = len(row)
    for i in range(t):
        if not removed[i]:
            continue
        left = next((j for j in range(i - 1, -1, -1) if not removed[j]), None)
        right = next((j for j in range(i + 1, t) if not removed[j]), None)
        if left is not None and right is not None:
            out[i] = row[left] + (row[right] - row[left]) * (i - left) / (right - left)
        elif left is not None:
            out[i] = row[left]
        elif right is not None:
            out[i] = row[right]
        else:
            out[i] = fill
    return out


def _dense_neighbour_system(row, removed):
    """ROAD's system for one series: x_i = mean of its valid time neighbours (weights 1/2)."""
    t = len(row)
    index = np.flatnonzero(removed)
    where = {p: k for k, p in enumerate(index)}
    a = np.zeros((len(index), len(index)))
    b = np.zeros(len(index))
    for k, i in enumerate(index):
        for j in (i - 1, i + 1):
            if 0 <= j < t:
                a[k, k] += 0.5
                if removed[j]:
                    a[k, where[j]] -= 0.5
                else:
                    b[k] += 0.5 * row[j]
    out = row.copy()
    out[index] = np.linalg.solve(a, b)
    return out


def test_linear_is_the_literal_interpolation_with_edges_held():
    x, missing = _data()
    got = impute(x, missing, "linear", fill=-5.0)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            expected = _literal_linear(x[i, c], missing[i, c], -5.0)
            np.testing.assert_allclose(got[i, c], expected, atol=1e-12)


def test_noiseless_noisy_linear_solves_the_neighbour_system():
    x, missing = _data(seed=1, t=23, share=0.6)
    got = impute(x, missing, "noisy_linear", noise=0.0, fill=2.0)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            if missing[i, c].all():
                np.testing.assert_array_equal(got[i, c], 2.0)
                continue
            np.testing.assert_allclose(
                got[i, c], _dense_neighbour_system(x[i, c], missing[i, c]), atol=1e-10
            )
    # on a line the neighbour mean is the linear interpolation with edges held
    np.testing.assert_allclose(got, impute(x, missing, "linear", fill=2.0), atol=1e-10)


def test_noise_is_gaussian_with_the_given_std_only_at_removed_points_and_seeded():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 3, 200))
    missing = rng.random(x.shape) < 0.4
    plain = impute(x, missing, "noisy_linear", noise=0.0)
    noisy = impute(x, missing, "noisy_linear", noise=0.3, seed=5)
    added = noisy - plain
    np.testing.assert_array_equal(added[~missing], 0.0)
    assert abs(added[missing].std() - 0.3) < 0.01  # about 9600 draws: 1 % sampling error
    assert abs(added[missing].mean()) < 0.01
    np.testing.assert_array_equal(noisy, impute(x, missing, "noisy_linear", noise=0.3, seed=5))
    assert not np.allclose(noisy, impute(x, missing, "noisy_linear", noise=0.3, seed=6))
    # a case's noise depends on its key, not on the other cases in the call
    part = impute(x[7:9], missing[7:9], "noisy_linear", noise=0.3, seed=5, keys=np.array([7, 8]))
    np.testing.assert_allclose(part, noisy[7:9], atol=1e-12)


def test_blur_is_scipys_gaussian_filter_at_removed_points():
    x, missing = _data(seed=3, t=30)
    sigma = 1.5
    got = impute(x, missing, "blur", sigma=sigma, fill=0.0)
    radius = min(math.ceil(3 * sigma), x.shape[-1] - 1)
    # torch's "reflect" padding (d c b | a b c d) is scipy's "mirror"
    smooth = gaussian_filter1d(x, sigma, axis=-1, mode="mirror", radius=radius)
    expected = np.where(missing, smooth, x)  # a channel with no kept point too: blur reads x
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_baseline_writes_the_fill_and_every_imputation_keeps_the_kept_points():
    x, missing = _data(seed=4)
    fill = np.arange(x.size, dtype=float).reshape(x.shape)
    np.testing.assert_array_equal(
        impute(x, missing, "baseline", fill=fill), np.where(missing, fill, x)
    )
    for name in IMPUTATIONS:
        out = impute(x, missing, name, fill=fill)
        np.testing.assert_array_equal(out[~missing], x[~missing])
        if name != "blur":  # blur reads the series itself, kept points or not
            np.testing.assert_array_equal(out[1, 0], fill[1, 0])  # no kept point: the fill
    x_before = x.copy()
    impute(x, missing, "noisy_linear")
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"imputation": "linearr"}, "imputation"), ({"noise": -1.0}, "noise")]
)
def test_bad_parameters_are_named(kwargs, match):
    x, missing = _data()
    with pytest.raises(ValueError, match=match):
        impute(x, missing, **{"imputation": "noisy_linear", **kwargs})
