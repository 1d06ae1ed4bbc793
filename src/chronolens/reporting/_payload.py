"""The data a report page draws: one JSON-compatible dict built from Explanations.

Everything here is deterministic (no clocks, no random ids) and compact: series and maps are
stored as 8-bit codes in base64, floats with four significant digits.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from chronolens.explanation import Explanation
from chronolens.plot._common import extended_edges
from chronolens.plot.static import _are_probabilities, _softmax
from chronolens.reporting import _stats as stats
from chronolens.reporting._ragged import blank_padding

_TOP_CLASSES = 5  # classes listed with their probability in a case's header
_PROFILE_POINTS = 400  # points of the per-class time profiles
_WINDOW_FRACTION = 0.05  # width of the top time windows, as a share of the series


def probabilities(scores: np.ndarray) -> np.ndarray:
    """Class probabilities per case: the scores if they already are, their softmax otherwise."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape[1] == 1:
        return np.ones_like(scores)
    return np.stack([row if _are_probabilities(row) else _softmax(row) for row in scores])


def _method_label(exp: Explanation) -> str:
    return f"{exp.method} ({exp.extras['layer']})" if "layer" in exp.extras else str(exp.method)


def _unique_labels(explanations: Sequence[Explanation]) -> list[str]:
    labels = [_method_label(exp) for exp in explanations]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return unique


def _groups(exp: Explanation, predicted: np.ndarray) -> np.ndarray:
    """The class each case's map explains: its target, or the predicted class."""
    return predicted if exp.target is None else np.asarray(exp.target, dtype=np.int64)


def _method_entry(
    exp: Explanation, label: str, predicted: np.ndarray, n_classes: int, factor: int
) -> dict[str, Any]:
    magnitude = stats.normalised(exp.attributions)
    real = np.where(np.isfinite(exp.attributions), magnitude, np.nan)  # NaN on padding
    groups = _groups(exp, predicted)
    t = magnitude.shape[2]
    width = max(1, round(_WINDOW_FRACTION * t))
    profile_factor = stats.pool_factor(t, _PROFILE_POINTS)
    profiles: list[str | None] = []
    windows: list[list[dict[str, float]]] = []
    for klass in range(n_classes):
        members = groups == klass
        if not members.any():
            profiles.append(None)
            windows.append([])
            continue
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a time point no member reaches
            profile = np.nan_to_num(np.nanmean(real[members], axis=(0, 1)))
        pooled = stats.pool(profile, profile_factor, peak=False)
        top = float(pooled.max()) if pooled.max() > 0 else 1.0
        codes = np.rint(pooled / top * 255).astype(np.uint8)  # shown relative to its maximum
        profiles.append(base64.b64encode(codes.tobytes()).decode("ascii"))
        windows.append(stats.top_windows(profile, width))
    data, scale = stats.encode_attributions(stats.pool(exp.attributions, factor, peak=True))
    return {
        "label": label,
        "method": str(exp.method),
        "perChannel": bool(exp.per_channel),
        "signed": bool(np.nanmin(exp.attributions) < 0) if exp.attributions.size else False,
        "data": data,
        "scale": stats.rounded_list(scale),
        "classChannel": stats.class_channel_means(magnitude, groups, n_classes),
        "profiles": profiles,
        "profileFactor": profile_factor,
        "windows": windows,
        "explained": [int(k) for k in groups],
        "edges": _edges(exp),
    }


def _edges(exp: Explanation) -> list[float | None] | None:
    """A CAM map's first and last receptive-field centre (input time points), or None.

    Before the first and after the last centre the map is its nearest value extended; the page
    hatches those stretches (``None`` for the last one when lengths differ: see
    :func:`chronolens.plot._common.extended_edges`).
    """
    edges = extended_edges(exp)
    if edges is None:
        return None
    first, last = edges
    return [first, None if not np.isfinite(last) else last]


def _cases(scores: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    probs = probabilities(scores)
    predicted = np.argmax(probs, axis=1)
    count = min(_TOP_CLASSES, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :count]
    return {
        "predicted": [int(k) for k in predicted],
        "truth": None if labels is None else [int(k) for k in labels],
        "top": [[[int(k), stats.rounded(p[k])] for k in row] for row, p in zip(top, probs)],
        "pTrue": None if labels is None else [stats.rounded(p[k]) for p, k in zip(probs, labels)],
    }


def build_payload(
    explanations: Sequence[Explanation],
    *,
    labels: np.ndarray | None,
    class_names: Sequence[str],
    channel_names: Sequence[str],
    model_rows: list[list[str]],
    max_points: int,
) -> dict[str, Any]:
    """Everything the page draws, as JSON-compatible data."""
    first = explanations[0]
    n, c, t = (int(size) for size in first.x.shape)
    scores = np.asarray(first.scores, dtype=np.float64)
    n_classes = scores.shape[1]
    predicted = np.argmax(probabilities(scores), axis=1)
    factor = stats.pool_factor(t, max_points)
    drawn = blank_padding(first.x, first.lengths)  # padding is not part of the series
    series, low, high = stats.encode_series(stats.pool(drawn, factor, peak=False))
    labels_text = _unique_labels(explanations)
    methods = [
        _method_entry(exp, label, predicted, n_classes, factor)
        for exp, label in zip(explanations, labels_text)
    ]
    per_case = stats.agreement([np.asarray(exp.attributions) for exp in explanations])
    pairs = [(i, j) for i in range(len(methods)) for j in range(i + 1, len(methods))]
    mean = np.full((len(methods), len(methods)), np.nan)
    np.fill_diagonal(mean, 1.0)
    for p, (i, j) in enumerate(pairs):
        finite = per_case[:, p][np.isfinite(per_case[:, p])]
        mean[i, j] = mean[j, i] = finite.mean() if finite.size else np.nan
    payload: dict[str, Any] = {
        "model": model_rows,
        "shape": [n, c, t],
        "factor": factor,
        "storedPoints": -(-t // factor),
        "lengths": None if first.lengths is None else [int(length) for length in first.lengths],
        "channels": [str(name) for name in channel_names],
        "classes": [str(name) for name in class_names],
        "cases": _cases(scores, labels),
        "series": {
            "data": series,
            "low": stats.rounded_list(low),
            "high": stats.rounded_list(high),
        },
        "methods": methods,
        "agreement": {
            "pairs": [list(pair) for pair in pairs],
            "perCase": stats.rounded_list(per_case),
            "mean": stats.rounded_list(mean),
        },
        "colours": {"signed": stats.colour_table("RdBu_r"), "positive": stats.colour_table("Reds")},
        "accuracy": None,
        "confusion": None,
    }
    if labels is not None:
        payload["accuracy"] = stats.rounded(float(np.mean(predicted == labels)))
        payload["confusion"] = stats.confusion_matrix(labels, predicted, n_classes).tolist()
    return payload
