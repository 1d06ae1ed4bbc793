"""Unequal-length series: detection, padding, and the valid-length bookkeeping.

A *ragged* collection is a list or tuple of 2-D arrays that share a channel count but not a
length: ``(n_channels, t_i)`` items with ``layout="ncl"`` (aeon's unequal-length collections),
``(t_i, n_channels)`` items with ``layout="nlc"``.

The padding scheme
------------------
Every case is padded at the END of its time axis up to the longest length ``T``; the padded
points hold ``pad_value`` (0.0 unless chosen) in ``Explanation.x``, and ``lengths[i]`` says how
many points of case ``i`` are real. Attribution is never given to padding: it is NaN there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from chronolens.attribution._result import MethodResult
from chronolens.baselines import replacement
from chronolens.series import Layout, as_series
from chronolens.targets import Target


def is_ragged(x: Any) -> bool:
    """True when ``x`` is a list or tuple of arrays (or tensors) whose shapes differ."""
    if not isinstance(x, (list, tuple)) or not x:
        return False
    if not all(hasattr(item, "shape") for item in x):
        return False
    return len({tuple(item.shape) for item in x}) > 1


def pad_series(
    x: Sequence[Any], layout: Layout = "ncl", *, pad_value: float = 0.0, name: str = "x"
) -> tuple[np.ndarray, np.ndarray]:
    """Pad unequal-length series at the end to the longest length.

    Parameters
    ----------
    x : list or tuple of array-like
        Each item one case: ``(n_channels, t_i)`` with ``layout="ncl"``, ``(t_i, n_channels)``
        with ``layout="nlc"``. All items share ``n_channels``.
    layout : {"ncl", "nlc"}, default="ncl"
    pad_value : float, default=0.0
        The value written into the padded points.
    name : str, default="x"
        Name used in error messages.

    Returns
    -------
    padded : numpy.ndarray of shape (n_cases, n_channels, max_length), float32
    lengths : numpy.ndarray of shape (n_cases,), int64

    Raises
    ------
    ValueError
        For an item that is not 2-D, an empty item, channel counts that differ, NaN or
        infinite values, or a non-finite ``pad_value``.
    """
    if not np.isfinite(float(pad_value)):
        raise ValueError(f"`pad_value` must be a finite number; got {pad_value!r}.")
    cases = []
    for i, item in enumerate(x):
        array = np.asarray(item) if not hasattr(item, "detach") else item
        if np.ndim(array) != 2:
            shape = "(n_channels, t_i)" if layout == "ncl" else "(t_i, n_channels)"
            fix = " Use item[None, :] for a univariate series." if np.ndim(array) == 1 else ""
            raise ValueError(
                f"`{name}` is a list of unequal-length series, so each case must be a 2-D array "
                f"{shape} for layout={layout!r}; case {i} has shape {np.shape(array)}.{fix}"
            )
        if 0 in np.shape(array):
            raise ValueError(
                f"`{name}`: case {i} is empty (shape {np.shape(array)}); drop it before explaining."
            )
        cases.append(as_series(array, layout, name=f"{name}[{i}]")[0])
    channels = [case.shape[0] for case in cases]
    if len(set(channels)) > 1:
        first = next(i for i, c in enumerate(channels) if c != channels[0])
        raise ValueError(
            f"`{name}`: every case must have the same number of channels; case 0 has "
            f"{channels[0]} and case {first} has {channels[first]}. If the items are stored "
            f"(t_i, n_channels), pass layout='nlc'."
        )
    lengths = np.array([case.shape[1] for case in cases], dtype=np.int64)
    padded = np.full((len(cases), channels[0], int(lengths.max())), pad_value, dtype=np.float32)
    for i, case in enumerate(cases):
        padded[i, :, : case.shape[1]] = case
    return padded, lengths


def valid_mask(lengths: np.ndarray, n_timepoints: int) -> np.ndarray:
    """Boolean (n_cases, n_timepoints): True where a time point is real (not padding)."""
    return np.arange(n_timepoints)[None, :] < np.asarray(lengths)[:, None]


def nan_padding(attributions: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """A copy of ``attributions`` (n, c, t) with NaN past each case's length (None: as is)."""
    if lengths is None:
        return attributions
    out = attributions.copy()
    out[~np.broadcast_to(valid_mask(lengths, out.shape[2])[:, None], out.shape)] = np.nan
    return out


def check_lengths(lengths: Any, n_cases: int, n_timepoints: int) -> np.ndarray:
    """Validate per-case lengths; return them as int64 (n_cases,)."""
    array = np.asarray(lengths)
    if array.shape != (n_cases,) or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"`lengths` must hold one integer per case, shape ({n_cases},); got {array.shape} "
            f"of dtype {array.dtype}."
        )
    if (array < 1).any() or (array > n_timepoints).any():
        raise ValueError(
            f"`lengths` must lie in [1, {n_timepoints}] (the padded length); got values from "
            f"{int(array.min())} to {int(array.max())}."
        )
    return array.astype(np.int64)


def groups(lengths: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``(length, case indices)`` for each distinct length, shortest first."""
    return [(int(t), np.flatnonzero(lengths == t)) for t in np.unique(lengths)]


def pad_to(array: np.ndarray, n_timepoints: int, fill: float = np.nan) -> np.ndarray:
    """Pad the last axis of ``array`` with ``fill`` to ``n_timepoints``."""
    width = n_timepoints - array.shape[-1]
    if width <= 0:
        return array
    pad = [(0, 0)] * (array.ndim - 1) + [(0, width)]
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    return np.pad(array, pad, constant_values=fill)


def stack_cases(parts: list[tuple[np.ndarray, np.ndarray]], n_cases: int) -> np.ndarray:
    """Put per-group arrays ``(indices, values)`` back in case order, NaN-padding time axes.

    Arrays whose trailing shapes differ (a map on each group's own time axis) are padded with
    NaN along their last axis to the longest.
    """
    values = [np.asarray(v) for _, v in parts]
    if len({v.shape[1:] for v in values}) > 1:
        longest = max(v.shape[-1] for v in values)
        values = [pad_to(v, longest) for v in values]
    first = values[0]
    out = np.empty((n_cases, *first.shape[1:]), dtype=np.result_type(*values))
    for (indices, _), value in zip(parts, values):
        out[indices] = value
    return out


def hold_padding(
    baseline: Any, series: np.ndarray, lengths: np.ndarray, pad_value: float, seed: int | None
) -> np.ndarray | None:
    """A replacement array (n, c, t) that is ``pad_value`` on the padding, or None.

    Each case's values come from ``baseline`` computed on its valid points only (so ``"mean"``
    and ``"noise"`` do not see the padding). A perturbation method given this array "replaces"
    the padding by the value it already holds, so the model never sees perturbed padding.
    None for ``"local_mean"`` (the mean of each replaced interval) and array baselines, which
    are used as given.
    """
    if not isinstance(baseline, (str, int, float)) or baseline == "local_mean":
        return None
    values = np.full_like(series, pad_value)
    for i, t in enumerate(np.asarray(lengths).tolist()):
        case = torch.from_numpy(np.ascontiguousarray(series[i : i + 1, :, :t]))
        value = replacement(baseline, case, seed=seed, case_offset=i)
        assert value is not None
        values[i, :, :t] = value.numpy()[0]
    return values


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def merge_runs(
    runs: list[tuple[np.ndarray, tuple[MethodResult, Any, Target]]], n_cases: int, n_timepoints: int
) -> tuple[MethodResult, Any, Target]:
    """One result from runs on groups of cases ``(indices, (result, output, target))``.

    Attributions are NaN-padded to ``n_timepoints``; per-case extras on each group's own time
    axis are NaN-padded to the longest; the run-wide extras are the first group's.
    """
    first, _, first_target = runs[0][1]

    def gather(get: Any, pad: int | None = None) -> torch.Tensor:
        parts = [(i, _numpy(get(run))) for i, run in runs]
        if pad is not None:
            parts = [(i, pad_to(v, pad)) for i, v in parts]
        return torch.from_numpy(stack_cases(parts, n_cases))

    attributions = gather(lambda run: run[0].attributions, n_timepoints)
    case_extras = {
        key: gather(lambda run, key=key: run[0].case_extras[key]) for key in first.case_extras
    }
    result = MethodResult(attributions, dict(first.extras), case_extras)
    indices = None if first_target.indices is None else gather(lambda run: run[2].indices)
    resolved = Target(indices=indices, fn=first_target.fn, binary=first_target.binary)
    return result, gather(lambda run: run[1]), resolved
