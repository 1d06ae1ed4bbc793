"""Time intervals x channels: the units perturbation methods replace.

A perturbation set is a list of ``(channel, start, stop)`` triples shared by every case;
``channel == -1`` means every channel at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

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

    def masks(
        self, n_channels: int, n_timepoints: int, index: np.ndarray | None = None
    ) -> np.ndarray:
        """Boolean masks of shape (len, n_channels, n_timepoints): True where replaced.

        With ``index``, only the masks of those perturbations (rows of a batch), so a batch never
        builds the masks of every perturbation.
        """
        start, stop, channel = (
            (self.start, self.stop, self.channel)
            if index is None
            else (self.start[index], self.stop[index], self.channel[index])
        )
        time = np.arange(n_timepoints)
        inside = (time >= start[:, None]) & (time < stop[:, None])
        channels = np.arange(n_channels)
        chosen = (channel[:, None] == -1) | (channel[:, None] == channels)
        return chosen[:, :, None] & inside[:, None, :]

    def spread(
        self, values: torch.Tensor, n_channels: int, n_timepoints: int, *, average: bool
    ) -> torch.Tensor:
        """Put each perturbation's value on the points it replaced, shape (n, c, t).

        ``values`` has shape (n, len). With ``average`` every point takes the mean value of the
        perturbations that covered it (0 where none did); otherwise their sum. Built from a
        difference array over time (+value at a start, -value at a stop, then a cumulative sum),
        so the cost is that of the perturbations plus one pass over the series, whatever their
        number and length.
        """
        n = values.shape[0]
        width = n_timepoints + 1
        every = self.channel == -1
        which = np.concatenate([np.nonzero(~every)[0], np.repeat(np.nonzero(every)[0], n_channels)])
        channel = np.concatenate(
            [self.channel[~every], np.tile(np.arange(n_channels), int(every.sum()))]
        ).astype(np.int64)
        starts = torch.from_numpy(channel * width + self.start[which])
        stops = torch.from_numpy(channel * width + self.stop[which])
        taken = values[:, torch.from_numpy(which)].double()
        total = torch.zeros(n, n_channels * width, dtype=torch.float64)
        total.index_add_(1, starts, taken).index_add_(1, stops, -taken)
        total = total.reshape(n, n_channels, width).cumsum(dim=-1)[..., :n_timepoints]
        if not average:
            return total.to(values.dtype)
        ones = torch.ones(1, len(which), dtype=torch.float64)
        count = torch.zeros(1, n_channels * width, dtype=torch.float64)
        count.index_add_(1, starts, ones).index_add_(1, stops, -ones)
        count = count.reshape(n_channels, width).cumsum(dim=-1)[..., :n_timepoints].round()
        mean = torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))
        return mean.to(values.dtype)


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
    if stride > window:
        raise ValueError(
            f"`stride`={stride} is larger than `window`={window}, so the points between windows "
            "would get no attribution (and look irrelevant). Use stride <= window, e.g. "
            f"stride={max(1, window // 3)}."
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
