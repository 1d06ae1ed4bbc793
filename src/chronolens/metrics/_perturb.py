"""Replacement values for perturbation metrics: what a removed point or window becomes.

Every strategy returns a full "replacement series" of the same shape as ``x``; a perturbation
takes its values where a point is removed and keeps ``x`` elsewhere. The series passed in is
never modified.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

BASELINES = ("zeros", "mean", "noise", "local_mean", "blur")


def check_baseline(baseline: Any, shape: tuple[int, ...]) -> Any:
    """Check a ``baseline``: a strategy name, a number, or an array of the series' shape."""
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            from chronolens._validation import suggestion

            raise ValueError(
                f"`baseline` must be one of {', '.join(repr(b) for b in BASELINES)}, a number or "
                f"an array of shape {shape}; got {baseline!r}.{suggestion(baseline, BASELINES)}"
            )
        return baseline
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        return float(baseline)
    array = np.asarray(baseline, dtype=np.float32)
    if array.shape != shape:
        raise ValueError(
            f"An array `baseline` must have the shape of the explained series {shape}; got "
            f"{array.shape}. Pass one of {', '.join(repr(b) for b in BASELINES)} or a number "
            "instead."
        )
    return array


def _moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` points along time (edges use the points inside)."""
    t = x.shape[-1]
    left = (window - 1) // 2
    cumulative = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.cumsum(x, axis=-1)], axis=-1)
    starts = np.clip(np.arange(t) - left, 0, t)
    stops = np.clip(np.arange(t) - left + window, 0, t)
    return (cumulative[..., stops] - cumulative[..., starts]) / (stops - starts)


def _gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time with reflected edges."""
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(radius, radius)], mode="reflect")
    out = np.zeros_like(x, dtype=np.float64)
    t = x.shape[-1]
    for weight, shift in zip(kernel, range(2 * radius + 1)):
        out += weight * padded[..., shift : shift + t]
    return out


def replacement(
    x: np.ndarray,
    baseline: Any,
    *,
    window: int,
    windows: np.ndarray | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return the values that replace removed points, shape of ``x`` (float32).

    Parameters
    ----------
    x : numpy.ndarray of shape (n, c, t)
        The series.
    baseline : str, float or numpy.ndarray
        ``"zeros"``: 0. ``"mean"``: each channel's mean over time, per case. ``"noise"``:
        Gaussian noise with each channel's mean and standard deviation, per case (seeded by
        ``rng``). ``"local_mean"``: the mean of the removed window itself (for single points,
        the centred moving average over ``window`` points). ``"blur"``: the series smoothed by a
        Gaussian of standard deviation ``window / 2``. A number: that constant. An array: itself.
    window : int
        Width of a window (time points).
    windows : numpy.ndarray of shape (t,) or None
        Window index of every time point when windows are replaced, None for single points.
    rng : numpy.random.Generator
        Source of the noise.
    """
    x64 = x.astype(np.float64)
    if isinstance(baseline, np.ndarray):
        out = np.broadcast_to(baseline, x.shape)
    elif isinstance(baseline, float):
        out = np.full(x.shape, baseline)
    elif baseline == "zeros":
        out = np.zeros(x.shape)
    elif baseline == "mean":
        out = np.broadcast_to(x64.mean(axis=-1, keepdims=True), x.shape)
    elif baseline == "noise":
        mean, std = x64.mean(axis=-1, keepdims=True), x64.std(axis=-1, keepdims=True)
        out = mean + std * rng.standard_normal(x.shape)
    elif baseline == "local_mean":
        if windows is None:
            out = _moving_average(x64, window)
        else:
            out = np.empty(x.shape)
            for index in range(int(windows.max()) + 1):
                inside = windows == index
                out[..., inside] = x64[..., inside].mean(axis=-1, keepdims=True)
    else:  # "blur"
        out = _gaussian_blur(x64, window / 2)
    return np.ascontiguousarray(out, dtype=np.float32)
