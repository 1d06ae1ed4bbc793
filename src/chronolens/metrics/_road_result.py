"""``RoadResult``: ROAD's MoRF and LeRF curves per case, and a random reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chronolens.metrics._perturbation import trapezoid

_NAMES = ("morf", "lerf", "random")


@dataclass(frozen=True, eq=False)
class RoadResult:
    """ROAD curves (:func:`chronolens.metrics.road`).

    Attributes
    ----------
    fractions : numpy.ndarray of shape (n_steps,)
        Fractions of the features removed and imputed.
    orders : tuple of str
        The orders computed (``"morf"``, ``"lerf"``); the fields of the other are NaN.
    morf_scores, lerf_scores, random_scores : numpy.ndarray of shape (n_cases, n_steps)
        The explained score (logit or whatever the model returns) after removing the most
        relevant, the least relevant, or randomly ordered features (the random order ranks the
        map's own blocks, scattered points for a map without runs).
    morf_probabilities, lerf_probabilities, random_probabilities : numpy.ndarray
        The explained class's probability, shape (n_cases, n_steps): softmax of the output
        (the output itself when it already sums to 1; the sigmoid of a single logit); NaN for
        a callable target.
    morf_accuracy, lerf_accuracy, random_accuracy : numpy.ndarray of shape (n_steps,)
        Share of cases whose predicted class is the true one (``y``) or, without ``y``, the
        prediction on the unperturbed series: ROAD's measure.
    morf_auc, lerf_auc, random_auc : numpy.ndarray of shape (n_cases,)
        Area under each case's score curve over ``fractions`` (trapezoidal rule). MoRF: lower
        is better; LeRF: higher is better; compare both with ``random_auc``.
    imputation : str
        What removed points became.
    noise : float
        Standard deviation of the imputation noise.
    reference : {"point", "block", "channel"}
        The map's shape, which the random reference copies.
    method : str
        The explanation's method.
    baseline : str
        The fill of channels with every point removed (and of ``imputation="baseline"``).
    """

    fractions: np.ndarray
    orders: tuple[str, ...]
    morf_scores: np.ndarray
    lerf_scores: np.ndarray
    random_scores: np.ndarray
    morf_probabilities: np.ndarray
    lerf_probabilities: np.ndarray
    random_probabilities: np.ndarray
    morf_accuracy: np.ndarray
    lerf_accuracy: np.ndarray
    random_accuracy: np.ndarray
    morf_auc: np.ndarray
    lerf_auc: np.ndarray
    random_auc: np.ndarray
    imputation: str
    noise: float
    reference: str
    method: str
    baseline: str

    @classmethod
    def build(cls, *, fractions: np.ndarray, curves: dict[str, Any], **labels: Any) -> RoadResult:
        """The result from ``curves[name] = (scores, probabilities, accuracy)`` per order."""
        n, steps = curves["random"][0].shape
        fields: dict[str, Any] = {}
        for name in _NAMES:
            scores, probabilities, accuracy = curves.get(
                name, (np.full((n, steps), np.nan),) * 2 + (np.full(steps, np.nan),)
            )
            fields[f"{name}_scores"] = scores
            fields[f"{name}_probabilities"] = probabilities
            fields[f"{name}_accuracy"] = accuracy
            fields[f"{name}_auc"] = trapezoid(scores, fractions)
        orders = tuple(name for name in _NAMES[:2] if name in curves)
        return cls(fractions=fractions, orders=orders, **fields, **labels)

    @property
    def gap(self) -> np.ndarray:
        """``lerf_auc - morf_auc`` per case: higher is better (NaN unless both orders ran)."""
        return self.lerf_auc - self.morf_auc

    @property
    def mean_morf_auc(self) -> float:
        """Mean MoRF area over cases (lower is better)."""
        return float(np.mean(self.morf_auc))

    @property
    def mean_lerf_auc(self) -> float:
        """Mean LeRF area over cases (higher is better)."""
        return float(np.mean(self.lerf_auc))

    @property
    def mean_random_auc(self) -> float:
        """Mean area of the random reference over cases."""
        return float(np.mean(self.random_auc))

    @property
    def mean_gap(self) -> float:
        """Mean of :attr:`gap` over cases."""
        return float(np.mean(self.gap))

    def __repr__(self) -> str:
        return (
            f"RoadResult({self.method!r}, {self.morf_scores.shape[0]} cases, imputation="
            f"{self.imputation!r}: mean AUC MoRF {self.mean_morf_auc:.4g} (lower is better), "
            f"LeRF {self.mean_lerf_auc:.4g} (higher is better), random "
            f"{self.mean_random_auc:.4g}; {self.reference}-shaped map)"
        )
