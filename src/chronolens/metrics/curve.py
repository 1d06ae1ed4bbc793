"""``PerturbationCurve``: a deletion or insertion curve per case, with its random references."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chronolens.explanation import Explanation
from chronolens.metrics._references import merge_kinds


def _aopc(scores: np.ndarray, kind: str) -> np.ndarray:
    change = scores[:, :1] - scores if kind == "deletion" else scores - scores[:, :1]
    return change.mean(axis=1)


@dataclass(frozen=True, eq=False)
class PerturbationCurve:
    """A deletion or insertion curve per case, with its random-attribution references.

    Two references: ``random_*`` ranks every feature (point or window) by its own uniform draw
    (scattered points); ``block_random_*`` ranks the map's own blocks, its runs of equal values
    along time, in a random order, so it removes contiguous runs of exactly the map's block sizes
    (whole channels for a map constant per channel). ``reference`` names the shape found; the
    block reference is the one that matches the map (on features without an equal neighbour
    it draws as the point reference does; with no runs at all the two are the same curve).
    Compare ``auc`` with ``matched_random_auc``.

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
    imputation : {"baseline", "linear", "noisy_linear", "blur"}
        What removed points became (:mod:`chronolens.metrics.imputation`); ``"baseline"``: the
        ``baseline`` values.
    block_random_scores : numpy.ndarray of shape (n_cases, n_steps + 1)
        The curve when the map's blocks are ranked by a random draw (seeded).
    block_random_auc : numpy.ndarray of shape (n_cases,)
        Its area.
    reference : {"point", "block", "channel"}
        The map's shape: at least half of the features without an equal time neighbour
        (points), most of them in runs of equal values along time (blocks), or one run per
        channel.
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
    imputation: str
    block_random_scores: np.ndarray
    block_random_auc: np.ndarray
    reference: str

    @property
    def mean_auc(self) -> float:
        """Mean area over cases."""
        return float(np.mean(self.auc))

    @property
    def mean_random_auc(self) -> float:
        """Mean area of the random reference over cases."""
        return float(np.mean(self.random_auc))

    @property
    def mean_block_random_auc(self) -> float:
        """Mean area of the block reference over cases."""
        return float(np.mean(self.block_random_auc))

    @property
    def matched_random_scores(self) -> np.ndarray:
        """The reference of the map's own shape: ``block_random_scores``."""
        return self.block_random_scores

    @property
    def matched_random_auc(self) -> np.ndarray:
        """Area of the matched reference per case: ``block_random_auc``."""
        return self.block_random_auc

    @property
    def mean_matched_random_auc(self) -> float:
        """Mean area of the matched reference over cases."""
        return float(np.mean(self.block_random_auc))

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

    @property
    def block_random_aopc(self) -> np.ndarray:
        """AOPC of the block (matched) reference, shape (n_cases,)."""
        return _aopc(self.block_random_scores, self.kind)

    def __repr__(self) -> str:
        better = "lower" if self.kind == "deletion" else "higher"
        return (
            f"PerturbationCurve({self.kind} of {self.method!r}, {self.scores.shape[0]} cases, "
            f"baseline={self.baseline!r}, imputation={self.imputation!r}, granularity="
            f"{self.granularity!r}: mean AUC {self.mean_auc:.4g} vs random "
            f"{self.mean_random_auc:.4g} (points), {self.mean_block_random_auc:.4g} (blocks; the "
            f"map is {self.reference}-shaped), {better} is better)"
        )


def combine(parts: list[tuple[np.ndarray, PerturbationCurve]], n_cases: int) -> PerturbationCurve:
    """One curve from curves of disjoint case groups ``(indices, curve)``, in case order."""
    first = parts[0][1]

    def gather(name: str) -> np.ndarray:
        values = [getattr(curve, name) for _, curve in parts]
        out = np.empty((n_cases, *values[0].shape[1:]), dtype=values[0].dtype)
        for (index, _), value in zip(parts, values):
            out[index] = value
        return out

    return PerturbationCurve(
        kind=first.kind,
        fractions=first.fractions,
        scores=gather("scores"),
        auc=gather("auc"),
        random_scores=gather("random_scores"),
        random_auc=gather("random_auc"),
        baseline=first.baseline,
        granularity=first.granularity,
        window=first.window,
        method=first.method,
        imputation=first.imputation,
        block_random_scores=gather("block_random_scores"),
        block_random_auc=gather("block_random_auc"),
        reference=merge_kinds([curve.reference for _, curve in parts]),
    )


def by_length(
    explanation: Explanation,
    run: Callable[[Explanation, Any, Any], PerturbationCurve],
    baseline: Any,
    target: Any,
) -> PerturbationCurve:
    """Run a curve on each equal-length group of an unequal-length explanation, unpadded.

    ``run(part, baseline, target)`` computes the curve of one group (cut to its length, so the
    padding is never ranked, replaced or counted in the fractions); an array ``baseline`` and a
    per-case ``target`` are cut to the group. The curves are put back in case order.
    """
    parts = []
    per_case = target is not None and not callable(target) and np.ndim(target) == 1
    for index, part in explanation.by_length():
        own = (
            baseline[index][..., : part.x.shape[2]]
            if isinstance(baseline, np.ndarray)
            else baseline
        )
        aim = np.asarray(target)[index].tolist() if per_case else target
        parts.append((index, run(part, own, aim)))
    return combine(parts, explanation.n_cases)
