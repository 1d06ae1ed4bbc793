"""The metrics :func:`chronolens.metrics.evaluate` can run, each with its intervention.

A metric here is one function of ``(model, explanation, settings)`` that returns a
:class:`Measured`: its per-case value (the number a user reads, e.g. a deletion AUC), the
per-case value of its random reference where it has one, and the per-case improvement over
that reference (positive = better than random) from which :mod:`._verdict` makes its call.
The ``intervention`` says what the metric does to the series: metrics on the same
intervention are fooled by the same artefacts, so they count once towards a verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chronolens.explanation import Explanation
from chronolens.targets import TargetLike


@dataclass(frozen=True)
class Settings:
    """What every metric of one :func:`evaluate` call shares."""

    baseline: Any
    granularity: str
    n_steps: int
    batch_size: int | str
    seed: int
    target: TargetLike


@dataclass(frozen=True)
class Measured:
    """One metric on one method: per-case values, reference and improvement (NaN: none)."""

    value: np.ndarray
    reference: np.ndarray
    improvement: np.ndarray
    intervention: str


@dataclass(frozen=True)
class MetricEntry:
    """A metric :func:`evaluate` can run.

    ``question`` is the one-line answer to "what does this metric tell me?", shown by
    ``chronolens evaluate --help`` and the docs; ``higher_is_better`` orients the value.
    """

    name: str
    question: str
    higher_is_better: bool
    run: Callable[[Any, Explanation, Settings], Measured]


def _curve_metric(kind: str, **fixed: Any) -> Callable[[Any, Explanation, Settings], Measured]:
    """Deletion or insertion: the map's AUC against the point-random reference."""

    def run(model: Any, exp: Explanation, s: Settings) -> Measured:
        from chronolens.metrics.faithfulness import deletion, insertion

        options: dict[str, Any] = {
            "baseline": s.baseline,
            "granularity": s.granularity,
            "n_steps": s.n_steps,
            "batch_size": s.batch_size,
            "seed": s.seed,
            "target": s.target,
        }
        options.update(fixed)
        curve = (deletion if kind == "deletion" else insertion)(model, exp, **options)
        sign = -1.0 if kind == "deletion" else 1.0  # deletion: lower is better
        where = f"{curve.granularity}s" if curve.granularity == "window" else "points"
        return Measured(
            value=curve.auc,
            reference=curve.random_auc,
            improvement=sign * (curve.auc - curve.random_auc),
            intervention=f"replace {where} with {curve.baseline}",
        )

    return run


def _aopcr(model: Any, exp: Explanation, s: Settings) -> Measured:
    """MILLET's AOPCR: time steps removed (the series shortened), against random orders.

    A model that only takes its training length is scored with the steps replaced by zeros
    instead (``mode="mask"``), which is the same intervention as deletion with zeros.
    """
    from chronolens.metrics.millet import aopcr

    if exp.lengths is not None:
        nan = np.full(exp.n_cases, np.nan)
        return Measured(nan, nan, nan, "remove time steps")
    batch = 64 if s.batch_size == "auto" else int(s.batch_size)
    try:
        values = aopcr(model, exp.x, exp, seed=s.seed, batch_size=batch)
        intervention = "remove time steps"
    except ValueError as error:
        if "mode='mask'" not in str(error):
            raise
        values = aopcr(model, exp.x, exp, seed=s.seed, batch_size=batch, mode="mask")
        intervention = "replace points with zeros"
    return Measured(values, np.zeros_like(values), values, intervention)


METRICS: dict[str, MetricEntry] = {
    entry.name: entry
    for entry in (
        MetricEntry(
            "deletion",
            "Does the score fall faster than under a random order when the map's top features "
            "are replaced with `baseline`? (area under the curve, lower is better)",
            False,
            _curve_metric("deletion"),
        ),
        MetricEntry(
            "insertion",
            "Does the score come back faster than under a random order when the map's top "
            "features are restored into a replaced series? (area, higher is better)",
            True,
            _curve_metric("insertion"),
        ),
        MetricEntry(
            "deletion_window",
            "Deletion of contiguous windows replaced by their own mean (local_mean): no "
            "off-data zeros and no scattered points (area, lower is better)",
            False,
            _curve_metric("deletion", granularity="window", baseline="local_mean"),
        ),
        MetricEntry(
            "aopcr",
            "MILLET's AOPCR: does the predicted logit fall faster than under random orders "
            "when the map's top time steps are removed from the series? (higher is better, "
            "0 is random)",
            True,
            _aopcr,
        ),
    )
}

DEFAULT_METRICS: tuple[str, ...] = ("deletion", "insertion", "deletion_window", "aopcr")


def check_metrics(metrics: Any) -> tuple[str, ...]:
    """``metrics`` as a tuple of known names, or a ValueError naming the known ones."""
    if isinstance(metrics, str):
        metrics = (metrics,)
    names = tuple(str(name) for name in metrics)
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise ValueError(
            f"`metrics` names {unknown or 'nothing'}; choose from {list(METRICS)} "
            f"(default {list(DEFAULT_METRICS)})."
        )
    return names
