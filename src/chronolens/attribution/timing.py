"""TIMING: integrated gradients along paths on which random temporal segments stay at the input.

Jang, Kim, Yang (ICML 2025) observe that integrated gradients walks every point from the baseline
at once, so the model sees series that never occur (everything scaled down together). TIMING
keeps random contiguous segments (one channel each) fixed at their input values on each step
of the path, integrates the gradient only over the steps on which a point moves, and divides
by the number of those steps.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_bool, check_int, resolve_seed
from chronolens.attribution._result import MethodResult
from chronolens.baselines import replacement
from chronolens.models.base import Model
from chronolens.targets import Target

#: Added to the count of free steps, as the reference implementation does (float16's eps).
FREE_EPS = float(torch.finfo(torch.float16).eps)


def segment_masks(
    n_steps: int,
    n_segments: int,
    min_length: int,
    max_length: int,
    n_channels: int,
    n_timepoints: int,
    seed: int,
) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Which points move on each step: (n_steps, c, t) floats, 0 on the fixed segments.

    Per step, ``n_segments`` segments each take one random channel, a length uniform in
    ``[min_length, max_length]`` and the start ``floor(u * (t - length))`` with ``u`` uniform in
    [0, 1), as the reference implementation draws them. The draws are returned too.
    """
    rng = np.random.default_rng(seed)
    channel = rng.integers(0, n_channels, size=(n_steps, n_segments))
    length = rng.integers(min_length, max_length + 1, size=(n_steps, n_segments))
    start = np.floor(rng.random((n_steps, n_segments)) * (n_timepoints - length)).astype(int)
    free = torch.ones(n_steps, n_channels, n_timepoints)
    for step in range(n_steps):
        for seg in range(n_segments):
            begin = start[step, seg]
            free[step, channel[step, seg], begin : begin + length[step, seg]] = 0.0
    return free, {"channel": channel, "length": length, "start": start}


def warn_if_nearly_all_fixed(
    free: torch.Tensor, n_segments: int, shortest: int, longest: int
) -> None:
    """Warn when most points move on almost no step: the map is then a few noisy points.

    With ``n_segments`` segments of mean length ``L`` on ``c x t`` points, a point stays fixed
    on a step with probability about ``1 - exp(-n_segments L / (c t))``; the paper's setting
    (50 segments of 10-48 points on 31 x 48 series) keeps about 63 % fixed, which
    ``n_segments = c t / L`` reproduces at any shape.
    """
    n_steps, n_channels, n_timepoints = free.shape
    moves = free.sum(dim=0)
    if float((moves < max(2.0, 0.05 * n_steps)).float().mean()) <= 0.5:
        return
    suggested = auto_segments(n_channels, n_timepoints, shortest, longest)
    warnings.warn(
        f"TIMING keeps {n_segments} segments of {shortest}-{longest} points fixed on each step "
        f"of a {n_channels} x {n_timepoints} series, so most points move on fewer than "
        f"{max(2, round(0.05 * n_steps))} of the {n_steps} steps and the map is mostly noise. "
        f"Pass n_segments={suggested} or 'auto' (the default: about the paper's share of fixed "
        "points at this shape), or shorter segments with min_length / max_length.",
        UserWarning,
        stacklevel=2,
    )


def auto_segments(n_channels: int, n_timepoints: int, shortest: int, longest: int) -> int:
    """``c t / mean length``: the paper's share of held points (about 63 %) at any shape.

    On the paper's 31 x 48 series with lengths 10-48 this gives 51, its 50 segments.
    """
    return max(1, round(n_channels * n_timepoints / ((shortest + longest) / 2)))


def _check(
    n_steps: Any,
    n_segments: Any,
    min_length: Any,
    max_length: Any,
    n_channels: int,
    n_timepoints: int,
) -> tuple[int, int, int, int]:
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    longest = n_timepoints if max_length is None else check_int(max_length, "max_length", minimum=1)
    longest = min(longest, n_timepoints)
    shortest = min(check_int(min_length, "min_length", minimum=1), longest)
    if isinstance(n_segments, str) and n_segments == "auto":
        n_segments = auto_segments(n_channels, n_timepoints, shortest, longest)
    else:
        n_segments = check_int(n_segments, "n_segments", minimum=0)
    return n_steps, n_segments, shortest, longest


def timing(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    baseline: Any = "zeros",
    n_steps: int = 50,
    n_segments: int | str = "auto",
    min_length: int = 10,
    max_length: int | None = None,
    absolute: bool = True,
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """TIMING: segment-masked integrated gradients.

    On step ``s`` of the path (``alpha_s = s / n_steps``, ``s = 0 .. n_steps - 1``, the reference
    implementation's left Riemann sum) the series is ``b + alpha_s (x - b)`` except on the step's
    random segments, which stay at ``x``. The map is ``(x - b) sum_s m_s G_s / (sum_s m_s + eps)``
    with ``m_s`` 1 where a point moves on step ``s`` and ``G_s`` the gradient there: integrated
    gradients restricted to the steps on which each point moves. The same segments are used for
    every case (drawn once from the seed and recorded).

    Parameters
    ----------
    baseline : {"zeros", "mean", "noise", "blur"}, float or array, default="zeros"
        The path's start (the paper: zeros).
    n_steps : int, default=50
        Steps of the path (the paper's ``n_samples``).
    n_segments : int or "auto", default="auto"
        Segments kept at the input on each step. ``"auto"``: ``c t / mean length``, which
        holds about 63 % of the points on a step at any shape, as the paper's 50 segments do on
        its 31 x 48 series (where ``"auto"`` gives 51); the count used is in
        ``extras["n_segments"]``. A fixed count that holds nearly every point of a short or
        narrow series is warned about.
    min_length, max_length : int, default=10 and None
        Segment lengths, uniform between the two; None: the series' length (the paper uses 10
        and 48 on 48-point series). Both are capped at the series' length.
    absolute : bool, default=True
        Return ``|map|``, as the paper evaluates TIMING; False keeps the sign.
    seed : int, optional
        Seed of the segments (and of the ``"noise"`` baseline).

    References
    ----------
    Jang, Kim, Yang (2025). TIMING: temporality-aware integrated gradients for time series
    explanation. ICML.
    """
    absolute = check_bool(absolute, "absolute")
    n, n_channels, n_timepoints = x.shape
    n_steps, n_segments, shortest, longest = _check(
        n_steps, n_segments, min_length, max_length, n_channels, n_timepoints
    )
    seed = resolve_seed(seed)
    base = replacement(baseline, x, seed=seed)
    if base is None:
        raise ValueError("TIMING's `baseline` must be a value per point, not 'local_mean'.")
    free, draws = segment_masks(
        n_steps, n_segments, shortest, longest, n_channels, n_timepoints, seed
    )
    warn_if_nearly_all_fixed(free, n_segments, shortest, longest)
    alphas = torch.arange(n_steps, dtype=torch.float32) / n_steps
    total = torch.zeros(n, n_channels, n_timepoints)
    n_rows = n * n_steps
    progress.start(n_rows)
    for start, stop in chunks(n_rows, batch_size):
        rows = torch.arange(start, stop)
        case, step = rows // n_steps, rows % n_steps
        moving = free[step]
        path = base[case] + alphas[step, None, None] * (x[case] - base[case])
        series = moving * path + (1 - moving) * x[case]
        grad = model.gradient(series, target.take(case)).grad.cpu()
        total.index_add_(0, case, grad * moving)
        progress.advance(stop - start)
    attributions = (x - base).cpu() * total / (free.sum(dim=0) + FREE_EPS)
    if absolute:
        attributions = attributions.abs()
    extras = {
        "seed": seed,
        "n_segments": n_segments,
        "min_length": shortest,
        "max_length": longest,
        **draws,
    }
    return MethodResult(attributions, extras=extras)
