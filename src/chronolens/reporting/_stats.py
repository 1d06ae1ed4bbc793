"""Numbers the HTML report shows: agreement, per-class summaries, compact encodings.

Pure NumPy, no plotting: each function takes arrays and returns arrays or plain Python data.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from chronolens import _ranks

SIGNIFICANT = 4  # significant digits of the floats written into a report


def rounded(value: float) -> float | None:
    """``value`` to :data:`SIGNIFICANT` digits (deterministic, short JSON); None if not finite."""
    value = float(value)
    if not np.isfinite(value):
        return None
    return float(f"{value:.{SIGNIFICANT}g}")


def rounded_list(values: np.ndarray) -> Any:
    """Nested lists of :func:`rounded` floats, for any array shape (one of them for 0-d)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return rounded(float(array))
    return [rounded_list(row) if array.ndim > 1 else rounded(row) for row in array]


# ---------------------------------------------------------------------- rank correlation
def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equally long arrays; NaN when one is constant."""
    return float(_ranks.spearman(np.ravel(a)[None], np.ravel(b)[None])[0])


def comparable(map_a: np.ndarray, map_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two maps of one case, (c_a, t) and (c_b, t), as |attribution| on a common grid.

    Two per-channel maps compare cell by cell; when one is shared by all channels, both are
    reduced to their time profile (mean |attribution| over channels).
    """
    a, b = np.abs(np.nan_to_num(map_a)), np.abs(np.nan_to_num(map_b))
    if a.shape == b.shape:
        return a, b
    return a.mean(axis=0), b.mean(axis=0)


def agreement(maps: list[np.ndarray]) -> np.ndarray:
    """Pairwise Spearman correlations, shape (n_cases, n_pairs), pairs in ``(i < j)`` order.

    ``maps[m]`` holds method ``m``'s attributions of shape (n_cases, c_attr, n_timepoints).
    """
    n_cases = maps[0].shape[0] if maps else 0
    pairs = [(i, j) for i in range(len(maps)) for j in range(i + 1, len(maps))]
    result = np.full((n_cases, len(pairs)), np.nan)
    for case in range(n_cases):
        for p, (i, j) in enumerate(pairs):
            result[case, p] = spearman(*comparable(maps[i][case], maps[j][case]))
    return result


# ---------------------------------------------------------------------- per-class summaries
def normalised(attributions: np.ndarray) -> np.ndarray:
    """|attribution| divided by each case's maximum, so that every case weighs the same."""
    magnitude = np.abs(np.nan_to_num(np.asarray(attributions, dtype=np.float64)))
    top = magnitude.reshape(magnitude.shape[0], -1).max(axis=1)
    top = np.where(top > 0, top, 1.0)
    return magnitude / top[:, None, None]


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def class_channel_means(
    magnitude: np.ndarray, classes: np.ndarray, n_classes: int
) -> list[list[float | None] | None]:
    """Mean normalised |attribution| per class and channel: one row per class (None if empty)."""
    rows: list[list[float | None] | None] = []
    for klass in range(n_classes):
        members = classes == klass
        if not members.any():
            rows.append(None)
            continue
        rows.append(rounded_list(magnitude[members].mean(axis=(0, 2))))
    return rows


def top_windows(profile: np.ndarray, width: int, count: int = 3) -> list[dict[str, float]]:
    """The ``count`` non-overlapping windows of ``width`` points with the largest total.

    Returns ``{"start", "stop", "share"}`` dicts (``stop`` exclusive, ``share`` of the whole
    profile's total), largest first. Ties go to the earlier window.
    """
    profile = np.asarray(profile, dtype=np.float64)
    total = float(profile.sum())
    if total <= 0.0:
        return []
    width = max(1, min(width, profile.shape[0]))
    sums = np.convolve(profile, np.ones(width), mode="valid")
    taken = np.zeros(profile.shape[0], dtype=bool)
    windows: list[dict[str, float]] = []
    for start in np.argsort(-sums, kind="stable"):
        if len(windows) == count:
            break
        stop = int(start) + width
        if taken[start:stop].any() or sums[start] <= 0:
            continue
        taken[start:stop] = True
        windows.append(
            {"start": int(start), "stop": stop, "share": rounded(sums[start] / total) or 0.0}
        )
    return windows


# ---------------------------------------------------------------------- compact encodings
MISSING_ATTRIBUTION = -128  # the int8 code of a point with no attribution


def pool_factor(n_timepoints: int, max_points: int) -> int:
    """Samples per stored point so that at most ``max_points`` are stored."""
    return max(1, -(-n_timepoints // max_points))


def pool(values: np.ndarray, factor: int, peak: bool) -> np.ndarray:
    """Pool the last axis by ``factor``: the mean, or (``peak``) the value of largest magnitude."""
    if factor == 1:
        return values
    t = values.shape[-1]
    n_bins = -(-t // factor)
    padded = np.full((*values.shape[:-1], n_bins * factor), np.nan)
    padded[..., :t] = values
    blocks = padded.reshape(*values.shape[:-1], n_bins, factor)
    if not peak:
        with np.errstate(invalid="ignore"):
            counts = np.isfinite(blocks).sum(axis=-1)
            sums = np.nansum(blocks, axis=-1)
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    magnitude = np.where(np.isfinite(blocks), np.abs(blocks), -1.0)
    index = np.argmax(magnitude, axis=-1)[..., None]
    return np.take_along_axis(blocks, index, axis=-1)[..., 0]


def encode_series(x: np.ndarray) -> tuple[str, np.ndarray, np.ndarray]:
    """Series (n, c, t) as base64 uint8 scaled per case and channel; 255 marks a missing value.

    Returns the base64 text and the low and high ends of each (case, channel) row.
    """
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    low = np.where(finite, x, np.inf).min(axis=2)
    high = np.where(finite, x, -np.inf).max(axis=2)
    low = np.where(np.isfinite(low), low, 0.0)
    high = np.where(np.isfinite(high), high, 0.0)
    span = np.where(high > low, high - low, 1.0)
    with np.errstate(invalid="ignore"):
        scaled = np.rint((x - low[..., None]) / span[..., None] * 254.0)
    codes = np.where(finite, np.clip(np.nan_to_num(scaled), 0, 254), 255).astype(np.uint8)
    return base64.b64encode(codes.tobytes()).decode("ascii"), low, high


def encode_attributions(attributions: np.ndarray) -> tuple[str, np.ndarray]:
    """Maps (n, c_attr, t) as base64 int8 in -127..127 scaled by each case's max |value|.

    -128 marks a point with no attribution (NaN: padding of an unequal-length series). Returns
    the base64 text and each case's scale (the value that 127 stands for).
    """
    raw = np.asarray(attributions, dtype=np.float64)
    finite = np.isfinite(raw)
    values = np.where(finite, raw, 0.0)
    scale = np.abs(values).reshape(values.shape[0], -1).max(axis=1)
    safe = np.where(scale > 0, scale, 1.0)
    scaled = np.clip(np.rint(values / safe[:, None, None] * 127.0), -127, 127)
    codes = np.where(finite, scaled, MISSING_ATTRIBUTION).astype(np.int8)
    return base64.b64encode(codes.tobytes()).decode("ascii"), scale


def colour_table(name: str) -> str:
    """256 colours of a matplotlib colour map as one hex string (6 digits per colour)."""
    from matplotlib import colormaps

    rgba = colormaps[name](np.linspace(0.0, 1.0, 256))
    codes = np.rint(rgba[:, :3] * 255).astype(np.uint8)
    return codes.tobytes().hex()
