"""``PerturbationCurve``: a deletion or insertion curve per case, with its random reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _aopc(scores: np.ndarray, kind: str) -> np.ndarray:
    change = scores[:, :1] - scores if kind == "deletion" else scores - scores[:, :1]
    return change.mean(axis=1)


@dataclass(frozen=True, eq=False)
class PerturbationCurve:
    """A deletion or insertion curve per case, with its random-attribution reference.

    Attributes
    ----------
    kind : {"deletion", "insertion"}
    fractions : numpy.ndarray of shape (n_steps + 1,)
        Fraction of the features (points or windows) replaced (deletion) or restored
        (insertion), from 0 to 1.
    scores : numpy.ndarray of shape (n_cases, n_steps + 1)
        The model's output for the explained class after each step (logits or probabilities,
        whatever the model returns).
    auc : numpy.ndarray of shape (n_cases,)
        Area under each case's curve over ``fractions`` (trapezoidal rule). Lower is better for
        deletion, higher for insertion.
    random_scores : numpy.ndarray of shape (n_cases, n_steps + 1)
        The same curve when features are ranked by a random attribution (seeded).
    random_auc : numpy.ndarray of shape (n_cases,)
        Its area.
    baseline : str
        The replacement strategy (or ``"constant"`` / ``"array"``).
    granularity : {"point", "window"}
    window : int
        Window width in time points (used by windows, ``"local_mean"`` and ``"blur"``).
    method : str
        The explanation's method.
    """

    kind: str
    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray
    random_scores: np.ndarray
    random_auc: np.ndarray
    baseline: str
    granularity: str
    window: int
    method: str

    @property
    def mean_auc(self) -> float:
        """Mean area over cases."""
        return float(np.mean(self.auc))

    @property
    def mean_random_auc(self) -> float:
        """Mean area of the random reference over cases."""
        return float(np.mean(self.random_auc))

    @property
    def aopc(self) -> np.ndarray:
        """Area over the perturbation curve per case, shape (n_cases,).

        The mean, over the ``n_steps + 1`` steps, of the score's drop from the unperturbed
        series (deletion) or its gain over the fully replaced series (insertion). Higher is
        better for both.
        """
        return _aopc(self.scores, self.kind)

    @property
    def random_aopc(self) -> np.ndarray:
        """AOPC of the random reference, shape (n_cases,)."""
        return _aopc(self.random_scores, self.kind)

    def __repr__(self) -> str:
        better = "lower" if self.kind == "deletion" else "higher"
        return (
            f"PerturbationCurve({self.kind} of {self.method!r}, {self.scores.shape[0]} cases, "
            f"baseline={self.baseline!r}, granularity={self.granularity!r}: mean AUC "
            f"{self.mean_auc:.4g} vs random {self.mean_random_auc:.4g}, {better} is better)"
        )
