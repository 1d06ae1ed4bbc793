"""Time intervals x channels: the units perturbation methods replace.

A perturbation set is a list of ``(channel, start, stop)`` triples shared by every case;
``channel == -1`` means every channel at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from chronolens._validation import check_choice, check_int

CHANNEL_MODES = ("each", "all")


@dataclass(frozen=True)
class Perturbations:
    """Intervals ``[start, stop)`` of time in one channel (or all, ``channel == -1``)."""

    channel: np.ndarray
    start: np.ndarray
    stop: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @property
    def longest(self) -> int:
        """Length of the longest interval."""
        return int((self.stop - self.start).max())

    def masks(self, n_channels: int, n_timepoints: int) -> np.ndarray:
        """Boolean masks of shape (len, n_channels, n_timepoints): True where replaced."""
        time = np.arange(n_timepoints)
        inside = (time >= self.start[:, None]) & (time < self.stop[:, None])
        channels = np.arange(n_channels)
        chosen = (self.channel[:, None] == -1) | (self.channel[:, None] == channels)
        return chosen[:, :, None] & inside[:, None, :]


def _expand(intervals: list[tuple[int, int]], n_channels: int, channels: str) -> Perturbations:
    starts = np.array([a for a, _ in intervals], dtype=np.int64)
    stops = np.array([b for _, b in intervals], dtype=np.int64)
    if channels == "all":
        return Perturbations(np.full(len(starts), -1), starts, stops)
    return Perturbations(
        np.repeat(np.arange(n_channels), len(starts)),
        np.tile(starts, n_channels),
        np.tile(stops, n_channels),
    )


def sliding_windows(
    n_channels: int, n_timepoints: int, window: int, stride: int, channels: str
) -> Perturbations:
    """Windows of ``window`` points starting every ``stride`` points, covering the series.

    Starts are 0, stride, 2 * stride, ... up to the first start whose window reaches the end;
    when ``stride`` does not divide ``n_timepoints - window``, that last window is cut at the
    end of the series (as Captum's Occlusion does). Per channel with ``channels="each"``, across
    all channels with ``"all"``.
    """
    window = check_int(window, "window", minimum=1)
    stride = check_int(stride, "stride", minimum=1)
    check_choice(channels, "channels", CHANNEL_MODES)
    if window > n_timepoints:
        raise ValueError(
            f"`window`={window} is longer than the series ({n_timepoints} time points); use a "
            f"window of at most {n_timepoints}."
        )
    n_windows = -(-(n_timepoints - window) // stride) + 1
    starts = [i * stride for i in range(n_windows)]
    return _expand([(s, min(s + window, n_timepoints)) for s in starts], n_channels, channels)


def equal_segments(
    n_channels: int, n_timepoints: int, n_segments: int, channels: str
) -> Perturbations:
    """``n_segments`` contiguous segments of (nearly) equal length covering the series."""
    n_segments = check_int(n_segments, "n_segments", minimum=1)
    check_choice(channels, "channels", CHANNEL_MODES)
    if n_segments > n_timepoints:
        raise ValueError(
            f"`n_segments`={n_segments} is more than the {n_timepoints} time points; use at most "
            f"{n_timepoints} segments."
        )
    edges = np.linspace(0, n_timepoints, n_segments + 1).round().astype(int)
    return _expand(list(itertools.pairwise(edges)), n_channels, channels)
