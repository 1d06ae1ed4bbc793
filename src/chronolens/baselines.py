"""Baselines: what a removed, masked or "absent" value becomes, for methods and metrics alike.

One list of names, one set of shape rules, one implementation of each strategy:

- ``"zeros"``: 0.
- ``"mean"``: each case's per-channel mean over time.
- ``"noise"``: Gaussian noise with each case's per-channel mean and standard deviation. The draws
  of case ``i`` come from ``numpy.random.default_rng([seed, case_offset + i])``, so a case's noise
  depends only on the seed and its own index, never on the other cases in the call or on the
  chunking.
- ``"local_mean"``: the mean of the replaced interval itself, per channel (perturbation methods
  and window metrics); for single points, the centred moving average over ``window`` points.
- ``"blur"``: the series smoothed along time by a Gaussian of standard deviation ``window / 2``
  (reflected edges).
- a finite number: that constant.
- an array of shape ``(n_channels, n_timepoints)`` or ``(n_cases, n_channels, n_timepoints)``; a
  time axis of length 1 (``(c, 1)``, ``(n, c, 1)``) broadcasts over time.

Arrays arrive in the chronolens layout: ``explain()`` and the metrics convert channels-last
baselines with the data's ``layout`` before they reach this module.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from chronolens._validation import suggestion

#: Every named baseline.
NAMES: tuple[str, ...] = ("zeros", "mean", "noise", "local_mean", "blur")
#: Names that need a seed.
RANDOM: tuple[str, ...] = ("noise",)


def _allowed_text(allowed: tuple[str, ...]) -> str:
    return ", ".join(repr(b) for b in allowed)


def check_baseline(
    baseline: Any, *, name: str = "baseline", allowed: tuple[str, ...] = NAMES
) -> str | float | np.ndarray:
    """Check a baseline and return it as a name, a float or a float32 array (shape unchecked).

    Parameters
    ----------
    baseline : str, number or array-like
        The user's value.
    name : str, default="baseline"
        The parameter's name, for messages.
    allowed : tuple of str
        The names this consumer accepts.

    Raises
    ------
    ValueError, TypeError
        Unknown names (with suggestions), NaN or infinite values, arrays of the wrong rank.
    """
    if isinstance(baseline, str):
        if baseline not in allowed:
            raise ValueError(
                f"`{name}` must be one of {_allowed_text(allowed)}, a number or an array; got "
                f"{baseline!r}.{suggestion(baseline, allowed)}"
            )
        return baseline
    if isinstance(baseline, bool):
        raise TypeError(f"`{name}` must be a name, a number or an array; got {baseline!r}.")
    if isinstance(baseline, numbers.Real):
        value = float(baseline)
        if not np.isfinite(value):
            raise ValueError(
                f"`{name}` must be finite; got {value}. A NaN or infinite baseline makes every "
                "map NaN; pass a number such as 0.0 or one of " + _allowed_text(allowed) + "."
            )
        return value
    if isinstance(baseline, torch.Tensor):
        baseline = baseline.detach().cpu().numpy()
    try:
        array = np.asarray(baseline, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be one of {_allowed_text(allowed)}, a number or an array; got "
            f"{type(baseline).__name__}."
        ) from None
    if array.ndim not in (2, 3):
        raise ValueError(
            f"An array `{name}` must have shape (n_channels, n_timepoints) or (n_cases, "
            f"n_channels, n_timepoints); got shape {array.shape}. For a constant pass a number."
        )
    if not np.isfinite(array).all():
        raise ValueError(f"`{name}` holds NaN or infinite values; replace them first.")
    return array


def describe(baseline: Any) -> str:
    """A short label for reports: the name, ``"constant"`` or ``"array"``."""
    if isinstance(baseline, str):
        return baseline
    return "constant" if isinstance(baseline, numbers.Real) else "array"


def noise(x: torch.Tensor, seed: int, case_offset: int = 0) -> torch.Tensor:
    """Per-case seeded Gaussian noise with each case's per-channel mean and standard deviation."""
    n = x.shape[0]
    draws = np.empty(tuple(x.shape), dtype=np.float32)
    for i in range(n):
        rng = np.random.default_rng([seed, case_offset + i])
        draws[i] = rng.standard_normal(tuple(x.shape[1:]), dtype=np.float32)
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return mean + std * torch.from_numpy(draws).to(x.device)


def moving_average(x: torch.Tensor, window: int) -> torch.Tensor:
    """Centred moving average over ``window`` points along time (edges use the points inside)."""
    t = x.shape[-1]
    left = (window - 1) // 2
    totals = torch.nn.functional.pad(x.double().cumsum(dim=-1), (1, 0))
    starts = torch.clamp(torch.arange(t) - left, 0, t)
    stops = torch.clamp(torch.arange(t) - left + window, 0, t)
    means = (totals[..., stops] - totals[..., starts]) / (stops - starts).double()
    return means.to(x.dtype)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing along time with reflected edges."""
    radius = max(1, int(np.ceil(3 * sigma)))
    radius = min(radius, x.shape[-1] - 1) if x.shape[-1] > 1 else 0
    if radius == 0:
        return x.clone()
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    flat = x.double().reshape(-1, 1, x.shape[-1])
    padded = torch.nn.functional.pad(flat, (radius, radius), mode="reflect")
    smoothed = torch.nn.functional.conv1d(padded, kernel.flip(0)[None, None])
    return smoothed.reshape(x.shape).to(x.dtype)


def interval_means(
    x: torch.Tensor, case: torch.Tensor, start: torch.Tensor, stop: torch.Tensor
) -> torch.Tensor:
    """Mean of each channel of ``x[case[r]]`` over ``[start[r], stop[r])``, shape (rows, c).

    One cumulative sum over time per case, then two reads per row: the cost does not grow with
    the interval length, and the full series of every row is never copied.
    """
    totals = torch.nn.functional.pad(x.double().cumsum(dim=-1), (1, 0))
    sums = totals[case, :, stop] - totals[case, :, start]
    return (sums / (stop - start).to(sums.dtype)[:, None]).to(x.dtype)


def window_means(x: torch.Tensor, windows: np.ndarray) -> torch.Tensor:
    """Every point replaced by the mean of its window (``windows[t]``: window index of ``t``)."""
    edges = np.flatnonzero(np.diff(windows, prepend=-1, append=-1))
    starts, stops = edges[:-1], edges[1:]
    totals = torch.nn.functional.pad(x.double().cumsum(dim=-1), (1, 0))
    start, stop = torch.from_numpy(starts), torch.from_numpy(stops)
    means = (totals[..., stop] - totals[..., start]) / (stop - start).double()
    owner = torch.from_numpy(np.repeat(np.arange(len(starts)), stops - starts))
    return means[..., owner].to(x.dtype)


def replacement(
    baseline: Any,
    x: torch.Tensor,
    *,
    seed: int | None = None,
    window: int | None = None,
    case_offset: int = 0,
    name: str = "baseline",
    allowed: tuple[str, ...] = NAMES,
) -> torch.Tensor | None:
    """The values that replace removed points, shape of ``x``; None for interval local means.

    Parameters
    ----------
    baseline : str, number or array
        See the module docstring.
    x : torch.Tensor of shape (n, c, t)
        The series (never modified).
    seed : int, optional
        Seed of ``"noise"`` (required for it).
    window : int, optional
        Width for ``"blur"`` (sigma = window / 2) and for the point-wise ``"local_mean"`` (a
        moving average). None: ``"local_mean"`` returns None, meaning "the mean of each
        replaced interval", which the perturbation engine computes per interval.
    case_offset : int, default=0
        Index of ``x[0]`` in the whole data set, so that the noise of a case does not depend on
        how the data was chunked.
    name, allowed
        As for :func:`check_baseline`.

    Returns
    -------
    torch.Tensor of shape (n, c, t), or None
    """
    value = check_baseline(baseline, name=name, allowed=allowed)
    if isinstance(value, np.ndarray):
        array = torch.from_numpy(value)
        if array.ndim == 2:
            array = array[None]
        try:
            return torch.broadcast_to(array.to(x.device, x.dtype), tuple(x.shape)).clone()
        except RuntimeError:
            raise ValueError(
                f"`{name}` of shape {tuple(value.shape)} does not broadcast to the series shape "
                f"(n_cases, n_channels, n_timepoints) = {tuple(x.shape)}. Pass an array of shape "
                "(n_channels, n_timepoints) or (n_cases, n_channels, n_timepoints)."
            ) from None
    if isinstance(value, float):
        return torch.full_like(x, value)
    if value == "zeros":
        return torch.zeros_like(x)
    if value == "mean":
        return x.mean(dim=-1, keepdim=True).expand_as(x).clone()
    if value == "noise":
        if seed is None:
            raise ValueError(f"`{name}`='noise' needs a seed.")
        return noise(x, seed, case_offset)
    if value == "local_mean":
        return None if window is None else moving_average(x, window)
    # "blur"
    width = window if window is not None else max(1, x.shape[-1] // 20)
    return blur(x, width / 2)
