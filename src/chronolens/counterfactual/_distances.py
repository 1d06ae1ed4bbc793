"""Proximity of a counterfactual to its query, and the distances that pick reference cases.

L1 and L2 are taken over every point of a case (all channels and time points); DTW is the one of
:mod:`chronolens.inspection._dtw` (square root of the smallest sum of squared Euclidean
distances between aligned time points, all channels together, no window).
"""

from __future__ import annotations

import numpy as np

from chronolens.inspection._dtw import dtw_distance

__all__ = ["DTW_BUDGET", "choose_distance", "distances_to", "proximity"]

#: Most DTW cells (reference cases x time points squared) per query for ``distance="auto"``
#: to choose DTW; beyond it, Euclidean (about a second per query with the NumPy DTW).
DTW_BUDGET = 2_000_000


def choose_distance(distance: str, n_reference: int, n_timepoints: int) -> str:
    """``"dtw"`` or ``"euclidean"``: ``"auto"`` is DTW when it fits :data:`DTW_BUDGET`."""
    if distance != "auto":
        return distance
    return "dtw" if n_reference * n_timepoints**2 <= DTW_BUDGET else "euclidean"


def distances_to(query: np.ndarray, reference: np.ndarray, distance: str) -> np.ndarray:
    """Distance from one case ``query`` (c, t) to every case of ``reference`` (m, c, t)."""
    if distance == "euclidean":
        diff = reference.astype(np.float64) - query.astype(np.float64)[None]
        return np.sqrt((diff**2).sum(axis=(1, 2)))
    return np.array([dtw_distance(query, case) for case in reference], dtype=np.float64)


def proximity(original: np.ndarray, changed: np.ndarray) -> dict[str, np.ndarray]:
    """Per case L1, L2 and DTW distance between ``original`` and ``changed`` (n, c, t)."""
    diff = changed.astype(np.float64) - original.astype(np.float64)
    return {
        "l1": np.abs(diff).sum(axis=(1, 2)),
        "l2": np.sqrt((diff**2).sum(axis=(1, 2))),
        "dtw": np.array(
            [dtw_distance(a, b) for a, b in zip(original, changed, strict=True)],
            dtype=np.float64,
        ),
    }
