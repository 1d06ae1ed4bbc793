"""Rank correlation, the one implementation the sanity checks and the report share.

Ties share their average rank, as in ``scipy.stats.spearmanr``.
"""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n along the last axis; tied values share the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(-1, values.shape[-1])
    out = np.empty(flat.shape)
    for i, row in enumerate(flat):
        order = np.argsort(row, kind="stable")
        starts = np.r_[0, np.flatnonzero(np.diff(row[order])) + 1]
        stops = np.r_[starts[1:], row.size]
        out[i, order] = np.repeat((starts + stops + 1) / 2.0, stops - starts)
    return out.reshape(values.shape)


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each case's flattened values, shape (n_cases,).

    ``a`` and ``b`` hold one case per row of their first axis. NaN where one case is constant.
    """
    ra = average_ranks(np.asarray(a, dtype=np.float64).reshape(len(a), -1))
    rb = average_ranks(np.asarray(b, dtype=np.float64).reshape(len(b), -1))
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denominator = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    numerator = (ra * rb).sum(axis=1)
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, np.nan)
