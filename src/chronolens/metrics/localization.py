"""How well a map finds planted ground truth."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import numpy as np

from chronolens._lengths import is_ragged, pad_series
from chronolens._scaling import min_max
from chronolens.explanation import Explanation

_Score = TypeVar("_Score", bound=Callable[..., Any])


def _valid_only(score: _Score) -> _Score:
    """Score an unequal-length explanation on each case's valid points only.

    The mask may be padded like ``explanation.x`` or a list of ``(n_channels, t_i)`` masks. Each
    group of equal length is scored cut to its length, so padding is never ranked or counted.
    """

    @functools.wraps(score)
    def wrapper(explanation: Explanation, mask: Any, **kwargs: Any) -> Any:
        if not isinstance(explanation, Explanation) or explanation.lengths is None:
            return score(explanation, mask, **kwargs)
        if is_ragged(mask) or isinstance(mask, (list, tuple)):
            mask = pad_series([np.asarray(m, dtype=np.float32) for m in mask], name="mask")[0]
        mask = np.asarray(mask).astype(bool)
        if mask.shape != explanation.x.shape:
            raise ValueError(
                f"`mask` has shape {mask.shape}; expected the padded shape of the explained "
                f"series {explanation.x.shape}, or a list of (n_channels, t_i) masks."
            )
        parts = []
        for index, part in explanation.by_length():
            parts.append((index, score(part, mask[index][..., : part.x.shape[2]], **kwargs)))
        first = parts[0][1]
        columns = first if isinstance(first, tuple) else (first,)
        merged = []
        for column in range(len(columns)):
            out = np.empty(explanation.n_cases, dtype=np.float64)
            for index, result in parts:
                out[index] = (result if isinstance(result, tuple) else (result,))[column]
            merged.append(out)
        return type(first)(*merged) if isinstance(first, tuple) else merged[0]

    return wrapper  # type: ignore[return-value]


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


@_valid_only
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


def _roc_auc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Mann-Whitney estimate of the ROC AUC; ties count one half."""
    n_positive = int(truth.sum())
    n_negative = truth.size - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size)
    # Average rank of each group of tied scores (1-based).
    starts = np.r_[0, np.nonzero(np.diff(sorted_scores))[0] + 1]
    stops = np.r_[starts[1:], scores.size]
    ranks[order] = np.repeat((starts + stops + 1) / 2, stops - starts)
    u = ranks[truth].sum() - n_positive * (n_positive + 1) / 2
    return float(u / (n_positive * n_negative))


@_valid_only
def roc_auc_score(explanation: Explanation, mask: Any, *, absolute: bool = True) -> np.ndarray:
    """Area under the ROC curve of each case's map as a detector of the mask's points.

    The probability that a random point inside the mask gets a higher attribution than a
    random point outside it (ties count one half): 1 is perfect, 0.5 is chance whatever the
    mask's size. A map shared by all channels is repeated over channels first (explicitly), so
    it cannot tell channels apart.

    Parameters
    ----------
    explanation : Explanation
    mask : array-like of bool, shape (n_cases, n_channels, n_timepoints)
        True where the evidence was planted.
    absolute : bool, default=True
        Rank by absolute attribution.

    Returns
    -------
    numpy.ndarray of shape (n_cases,)
        NaN for a case whose mask is empty or full. ``np.nanmean`` gives the mean.
    """
    scores, mask = _ranked_scores(explanation, mask, absolute)
    return np.array(
        [_roc_auc(s.ravel().astype(np.float64), m.ravel()) for s, m in zip(scores, mask)],
        dtype=np.float64,
    )


@_valid_only
def relevance_mass_score(
    explanation: Explanation, mask: Any, *, absolute: bool = True
) -> np.ndarray:
    """Share of each case's relevance that falls inside the mask (Arras et al., 2022).

    ``sum(R inside mask) / sum(R)`` with ``R`` the absolute attribution (``absolute=True``) or
    its positive part (``absolute=False``, as in Arras et al.). 1 means all relevance is on the
    evidence; a uniform map scores the mask's share of points. A map shared by all channels is
    repeated over channels first (explicitly).

    Parameters
    ----------
    explanation : Explanation
    mask : array-like of bool, shape (n_cases, n_channels, n_timepoints)
    absolute : bool, default=True

    Returns
    -------
    numpy.ndarray of shape (n_cases,)
        NaN for a case whose map has no relevance.

    References
    ----------
    Arras, Osman, Samek (2022). CLEVR-XAI: A benchmark dataset for the ground truth evaluation
    of neural network explanations. Information Fusion.
    """
    scores, mask = _ranked_scores(explanation, mask, True)
    if not absolute:
        scores = np.clip(explanation.broadcast(), 0, None)
    scores = scores.astype(np.float64).reshape(len(scores), -1)
    inside = (scores * mask.reshape(len(mask), -1)).sum(axis=1)
    total = scores.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


FRACTIONS = np.arange(1, 10) / 10  # the saliency shares of Ismail et al.'s benchmark code


class AupAur(NamedTuple):
    """Per-case areas under the saliency-weighted precision and recall curves.

    Unpacks as ``aup, aur = aup_aur(exp, mask)``; each is an array of shape (n_cases,).
    """

    aup: np.ndarray
    aur: np.ndarray


@_valid_only
def aup_aur(explanation: Explanation, mask: Any) -> AupAur:
    """Saliency-weighted areas under the precision and recall curves (Ismail et al., 2020).

    As in the authors' benchmark code: each case's absolute map is min-max scaled to [0, 1].
    For each share ``p`` in 0.1, 0.2, ..., 0.9, the highest-saliency points that together hold
    ``p`` of the case's total saliency are selected (the smallest such set; ties in input
    order). Against the mask, with every point weighted by its saliency ``S``, precision is
    ``sum_TP S / sum_selected S`` and recall is ``sum_TP S / sum_mask S`` (true positives over
    true positives plus saliency-weighted false negatives). AUP and AUR are the trapezoid
    areas of the two curves over ``p`` in [0.1, 0.9], per case. A map shared by all channels is
    repeated over channels first (explicitly).

    Parameters
    ----------
    explanation : Explanation
    mask : array-like of bool, shape (n_cases, n_channels, n_timepoints)

    Returns
    -------
    aup, aur : numpy.ndarray of shape (n_cases,)
        Higher is better for both. The scale is the paper's: a map that is 1 on the mask and 0
        elsewhere scores AUP = 0.8 (precision 1 over a span of 0.8) and AUR close to 0.4
        (recall grows with ``p``); compare methods with each other and with a random map. A
        map of all zeros scores 0.

    References
    ----------
    Ismail, Gunady, Corrada Bravo, Feizi (2020). Benchmarking deep learning interpretability in
    time series predictions. NeurIPS.
    """
    scores, mask = _ranked_scores(explanation, mask, True)
    n = len(scores)
    scores = scores.astype(np.float64).reshape(n, -1)
    mask = mask.reshape(n, -1)
    saliency = min_max(scores, dims=1)
    order = np.argsort(-saliency, axis=1, kind="stable")
    ranked = np.take_along_axis(saliency, order, axis=1)
    hits = np.take_along_axis(mask, order, axis=1)
    selected = np.cumsum(ranked, axis=1)  # saliency of the top-k points, k = 1, 2, ...
    true_positive = np.cumsum(ranked * hits, axis=1)
    precision = np.zeros((n, len(FRACTIONS)))
    recall = np.zeros((n, len(FRACTIONS)))
    for case in range(n):
        total, relevant = selected[case, -1], true_positive[case, -1]
        if total <= 0:
            continue
        # The smallest top set holding each share (a relative tolerance for rounding).
        k = np.searchsorted(selected[case], FRACTIONS * total * (1 - 1e-12), side="left")
        k = np.minimum(k, selected.shape[1] - 1)
        tp = true_positive[case, k]
        precision[case] = tp / selected[case, k]
        if relevant > 0:
            recall[case] = tp / relevant
    return AupAur(_trapezoid(precision), _trapezoid(recall))


def _trapezoid(curves: np.ndarray) -> np.ndarray:
    widths = np.diff(FRACTIONS)
    return ((curves[:, 1:] + curves[:, :-1]) / 2 * widths).sum(axis=1)
