"""How well a map finds planted ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from chronolens.explanation import Explanation


def _ranked_scores(
    explanation: Explanation, mask: Any, absolute: bool
) -> tuple[np.ndarray, np.ndarray]:
    mask = np.asarray(mask).astype(bool)
    if mask.shape != explanation.x.shape:
        raise ValueError(
            f"`mask` has shape {mask.shape}; expected the shape of the explained series "
            f"(n_cases, n_channels, n_timepoints) = {explanation.x.shape}."
        )
    # Maps shared by all channels are repeated over channels (explicitly) before scoring.
    scores = explanation.broadcast()
    return (np.abs(scores) if absolute else scores), mask


def _average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Average precision of one ranking (ties share a threshold, as in scikit-learn)."""
    n_positive = int(truth.sum())
    if n_positive == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    distinct = np.nonzero(np.diff(scores))[0]
    thresholds = np.r_[distinct, len(scores) - 1]
    true_positives = np.cumsum(truth)[thresholds]
    predicted = thresholds + 1
    precision = true_positives / predicted
    recall = true_positives / n_positive
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def average_precision_score(
    explanation: Explanation, mask: Any, *, absolute: bool = True
) -> np.ndarray:
    """Average precision of each case's map against a ground-truth mask.

    Every (channel, time point) is ranked by its attribution; the mask's points are the
    positives. 1 is perfect; a random map scores about the mask's share of points. A map shared
    by all channels is repeated over channels first, so it cannot tell channels apart.

    Parameters
    ----------
    explanation : Explanation
    mask : array-like of bool, shape (n_cases, n_channels, n_timepoints)
        True where the evidence was planted.
    absolute : bool, default=True
        Rank by absolute attribution (evidence for or against both count).

    Returns
    -------
    numpy.ndarray of shape (n_cases,)
        NaN for a case whose mask is empty. ``np.nanmean`` gives the mean.
    """
    scores, mask = _ranked_scores(explanation, mask, absolute)
    return np.array(
        [_average_precision(s.ravel(), m.ravel()) for s, m in zip(scores, mask)], dtype=np.float64
    )
