"""Dataset-level views computed chunk by chunk from a job's store (never loaded whole)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DatasetSummary:
    """What a whole dataset's explanation says.

    Attributes
    ----------
    classes : numpy.ndarray of shape (k,)
        The explained classes present.
    counts : numpy.ndarray of shape (k,)
        Cases per class.
    class_means : numpy.ndarray of shape (k, c_attr, t)
        Mean attribution of the cases of each class.
    channel_importance : numpy.ndarray of shape (c_attr,)
        Mean over cases of each case's mean absolute attribution per channel.
    channel_ci : numpy.ndarray of shape (c_attr, 2)
        Percentile bootstrap interval (``level``) of ``channel_importance`` over cases.
    top_windows : list of (case, start, score)
        The ``k`` windows of ``width`` time points with the largest mean absolute attribution
        (summed over channels), one per case at most, best first.
    width : int
    level : float
    """

    classes: np.ndarray
    counts: np.ndarray
    class_means: np.ndarray
    channel_importance: np.ndarray
    channel_ci: np.ndarray
    top_windows: list[tuple[int, int, float]]
    width: int
    level: float

    def __str__(self) -> str:
        lines = [f"{int(self.counts.sum())} cases in {len(self.classes)} classes"]
        for i, (value, (lo, hi)) in enumerate(zip(self.channel_importance, self.channel_ci)):
            lines.append(f"channel {i}: importance {value:.4g} [{lo:.4g}, {hi:.4g}]")
        lines += [f"case {c} t={s}..{s + self.width}: {v:.4g}" for c, s, v in self.top_windows]
        return "\n".join(lines)


def _window_scores(attributions: np.ndarray, width: int) -> np.ndarray:
    """(b, t - width + 1) mean |attribution| over each window, channels summed."""
    profile = np.abs(attributions.astype(np.float64)).sum(axis=1)
    cum = np.concatenate([np.zeros((len(profile), 1)), np.cumsum(profile, axis=1)], axis=1)
    return (cum[:, width:] - cum[:, :-width]) / width


def summarize(
    group: Any,
    *,
    width: int | None = None,
    k: int = 10,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> DatasetSummary:
    """Per-class mean map, per-channel importance with bootstrap intervals, top windows.

    Parameters
    ----------
    group : zarr.Group
        A job's store.
    width : int, optional
        Window length for the top windows (default: a tenth of the series, at least 1).
    k : int, default=10
    n_boot : int, default=200
        Bootstrap resamples of the cases.
    level : float, default=0.95
    seed : int, default=0
        The bootstrap's seed.
    """
    store = group["attributions"]
    n, c_attr, t = store.shape
    chunk = int(group.attrs["chunk_size"])
    width = max(1, t // 10) if width is None else min(int(width), t)
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    per_case = np.empty((n, c_attr), np.float64)  # small: one number per case and channel
    best: list[tuple[float, int, int]] = []
    for start in range(0, n, chunk):
        a = np.asarray(store[start : start + chunk], np.float64)
        target = np.asarray(group["target"][start : start + chunk])
        for cls in np.unique(target):
            rows = a[target == cls]
            sums[int(cls)] = sums.get(int(cls), 0) + rows.sum(axis=0)
            counts[int(cls)] = counts.get(int(cls), 0) + len(rows)
        per_case[start : start + len(a)] = np.abs(a).mean(axis=2)
        scores = _window_scores(a, width)
        where = scores.argmax(axis=1)
        for i, (s, v) in enumerate(zip(where, scores[np.arange(len(a)), where])):
            best.append((float(v), start + i, int(s)))
        best = sorted(best, key=lambda r: (-r[0], r[1]))[:k]
    classes = np.array(sorted(sums))
    means = (
        np.stack([sums[c] / counts[c] for c in classes])
        if len(classes)
        else np.zeros((0, c_attr, t))
    )
    rng = np.random.default_rng(seed)
    boots = np.stack([per_case[rng.integers(0, n, n)].mean(axis=0) for _ in range(n_boot)])
    alpha = (1 - level) / 2
    ci = np.quantile(boots, [alpha, 1 - alpha], axis=0).T
    return DatasetSummary(
        classes=classes,
        counts=np.array([counts[c] for c in classes]),
        class_means=means,
        channel_importance=per_case.mean(axis=0),
        channel_ci=ci,
        top_windows=[(case, s, v) for v, case, s in best],
        width=width,
        level=level,
    )
