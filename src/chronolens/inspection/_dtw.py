"""Dynamic time warping distance between multivariate series (dtaidistance, else NumPy).

The distance is the one of ``dtaidistance.dtw_ndim.distance``: the square root of the smallest
sum, over a warping path, of squared Euclidean distances between the aligned time points (all
channels together). With ``dtaidistance`` installed (``pip install dtaidistance``, a maintained C
implementation) it is used; otherwise an anti-diagonal vectorised NumPy version computes the same.
"""

from __future__ import annotations

import numpy as np


def _numpy_dtw(a: np.ndarray, b: np.ndarray) -> float:
    """DTW of ``a`` (t1, c) and ``b`` (t2, c), vectorised along anti-diagonals."""
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    for diagonal in range(2, n + m + 1):  # i + j == diagonal, 1-based
        i = np.arange(max(1, diagonal - m), min(n, diagonal - 1) + 1)
        j = diagonal - i
        best = np.minimum(np.minimum(total[i - 1, j], total[i, j - 1]), total[i - 1, j - 1])
        total[i, j] = cost[i - 1, j - 1] + best
    return float(np.sqrt(total[n, m]))


def dtw_backend() -> str:
    """Return "dtaidistance" when that library is installed, else "numpy"."""
    try:
        import dtaidistance.dtw_ndim  # noqa: F401
    except ImportError:
        return "numpy"
    return "dtaidistance"


def dtw_distance(a: np.ndarray, b: np.ndarray, backend: str | None = None) -> float:
    """DTW distance of two series of shape (n_channels, n_timepoints).

    Parameters
    ----------
    a, b : numpy.ndarray of shape (n_channels, n_timepoints)
        Same number of channels; lengths may differ.
    backend : {"dtaidistance", "numpy"}, optional
        Default: dtaidistance when installed.

    Returns
    -------
    float
    """
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float64).T)
    b = np.ascontiguousarray(np.asarray(b, dtype=np.float64).T)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"DTW needs the same channels; got {a.shape[1]} and {b.shape[1]}.")
    backend = backend or dtw_backend()
    if backend == "dtaidistance":
        from dtaidistance import dtw_ndim

        return float(dtw_ndim.distance(a, b, use_c=True))
    if backend != "numpy":
        raise ValueError(f"`backend` must be 'dtaidistance' or 'numpy'; got {backend!r}.")
    return _numpy_dtw(a, b)
