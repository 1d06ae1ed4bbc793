"""The one baselines module, against independent references (SciPy, NumPy, closed forms)."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from chronolens import baselines


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(2, 3, 40)).astype(np.float32)


def replace(value, x, **kwargs):
    out = baselines.replacement(value, torch.from_numpy(x), **kwargs)
    return None if out is None else out.numpy()


def test_strategies_match_independent_references(x):
    blur = replace("blur", x, window=5)
    np.testing.assert_allclose(
        blur, gaussian_filter1d(x.astype(float), 2.5, mode="mirror", truncate=3.0), atol=1e-5
    )
    mean = replace("mean", x)
    np.testing.assert_allclose(mean, np.repeat(x.mean(2, keepdims=True), 40, 2), atol=1e-6)
    windows = np.arange(40) // 5
    local = baselines.window_means(torch.from_numpy(x), windows).numpy()
    np.testing.assert_allclose(
        local, np.repeat(x.reshape(2, 3, 8, 5).mean(-1), 5, axis=2), atol=1e-6
    )
    moving = replace("local_mean", x, window=5)
    np.testing.assert_allclose(
        moving[..., 2:-2],
        np.apply_along_axis(lambda s: np.convolve(s, np.ones(5) / 5, mode="valid"), 2, x),
        atol=1e-5,
    )
    assert np.all(replace(2.0, x) == 2.0)
    assert np.all(replace("zeros", x) == 0.0)
    # Without a window, local means are per replaced interval (the engine computes them).
    assert replace("local_mean", x) is None


def test_interval_means_match_numpy(x):
    case = torch.tensor([0, 1, 1])
    start, stop = torch.tensor([0, 3, 10]), torch.tensor([5, 4, 40])
    got = baselines.interval_means(torch.from_numpy(x), case, start, stop).numpy()
    for row, (c, a, b) in enumerate(zip(case.tolist(), start.tolist(), stop.tolist())):
        np.testing.assert_allclose(got[row], x[c, :, a:b].mean(-1), rtol=1e-5, atol=1e-6)


def test_noise_is_per_case_and_seeded(x):
    a = replace("noise", x, seed=1)
    np.testing.assert_array_equal(a, replace("noise", x, seed=1))
    assert not np.allclose(a, replace("noise", x, seed=2))
    # A case's noise depends only on the seed and its index, not on the other cases.
    np.testing.assert_array_equal(replace("noise", x[1:], seed=1, case_offset=1), a[1:])
    # The draws of case i are default_rng([seed, i]) standard normals, scaled per channel.
    draws = np.random.default_rng([1, 0]).standard_normal((3, 40), dtype=np.float32)
    expected = x[0].mean(-1, keepdims=True) + x[0].std(-1, keepdims=True) * draws
    np.testing.assert_allclose(a[0], expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="needs a seed"):
        replace("noise", x)


def test_array_shape_rules(x):
    per_case = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    np.testing.assert_array_equal(replace(per_case, x), per_case)
    np.testing.assert_array_equal(replace(per_case[0], x), np.broadcast_to(per_case[0], x.shape))
    level = np.arange(3, dtype=np.float32)[:, None]  # (c, 1) broadcasts over time
    np.testing.assert_array_equal(replace(level, x)[1, 2], np.full(40, 2.0))
    with pytest.raises(ValueError, match=r"does not broadcast.*\(2, 3, 40\)"):
        replace(np.zeros((4, 40)), x)
    with pytest.raises(ValueError, match=r"shape \(n_channels, n_timepoints\)"):
        replace(np.zeros(3), x)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("zero", ValueError, "Did you mean 'zeros'"),
        (float("nan"), ValueError, "must be finite"),
        (float("inf"), ValueError, "must be finite"),
        (True, TypeError, "a name, a number or an array"),
        (np.full((3, 40), np.nan), ValueError, "NaN or infinite"),
        (object(), TypeError, "a number or an array"),
    ],
)
def test_bad_baselines_are_named(x, value, error, match):
    with pytest.raises(error, match=match):
        replace(value, x)


def test_consumers_restrict_names(x):
    with pytest.raises(ValueError, match="'zeros', 'mean'"):
        replace("noise", x, seed=0, allowed=("zeros", "mean"))
