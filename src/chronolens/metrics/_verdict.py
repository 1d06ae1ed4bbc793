"""A verdict on a map that survives the choice of metric.

Every faithfulness metric compares the model's response to perturbations ordered by the map
with the same perturbations in a random order, and every one of them is fooled by its own
perturbation somewhere (zeros are off the data; scattered points act like subsampling on a
periodic series; shortening a series changes what a convolution sees). So one metric saying
"better than random" proves little. Here each metric makes a *call* per method, from its
per-case improvement over its random reference, and the calls are combined:

- **better than random**: no metric says worse, and metrics built on at least two *different*
  interventions (replacement by an imputation, ROAD's noisy imputation, removal of time steps,
  noise on the input, ...) say better;
- **worse than random**: the same, reversed;
- **metrics disagree**: one metric says better and another worse (the verdict names which);
- **inconclusive**: otherwise (every metric ties with random, or only one intervention
  decides).

A call is a paired test of the per-case improvement over the random reference (drawn on the
same cases): Student's t on the mean, two-sided. One method gets about ten calls, so by default
their p-values are adjusted with Holm's step-down procedure and a call is "better" (or "worse")
when its adjusted p-value is at most ``alpha`` = 0.05: a map that is no better than random gets
any non-tie call, and so any verdict but "inconclusive", with probability at most 0.05 whatever
the dependence between the metrics. ``correction="bonferroni"`` or ``"none"`` change the
adjustment; ``threshold=`` restores the fixed rule of a call at that many standard errors, with
no correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from chronolens.metrics._t_test import CORRECTIONS, adjusted, two_sided_p

BETTER, WORSE, DISAGREE, INCONCLUSIVE = (
    "better than random",
    "worse than random",
    "metrics disagree",
    "inconclusive",
)
LABELS = (BETTER, WORSE, DISAGREE, INCONCLUSIVE)
ALPHA = 0.05  # family-wise error rate of one method's calls


@dataclass(frozen=True)
class CallRule:
    """How calls are made and combined.

    Attributes
    ----------
    alpha : float
        The family-wise error rate of one method's calls (with ``correction="none"``, of
        each call).
    correction : {"holm", "bonferroni", "none"}
    threshold : float or None
        If given, a call is made at ``|mean| > threshold`` standard errors with no
        correction (``alpha`` and ``correction`` are then unused).
    min_interventions : int
        Different interventions that must agree for "better" (or "worse") than random.
    """

    alpha: float = ALPHA
    correction: str = "holm"
    threshold: float | None = None
    min_interventions: int = 2


def call_rule(
    alpha: float, correction: str | None, threshold: float | None, min_interventions: int
) -> CallRule:
    """A checked :class:`CallRule` from the parameters of ``evaluate()``."""
    from chronolens._validation import check_choice, check_float, check_int

    checked_threshold = None
    if threshold is not None:
        checked_threshold = check_float(threshold, "threshold", minimum=0.0)
        if correction not in (None, "none"):
            raise ValueError(
                f"`threshold`={threshold} makes every call at a fixed number of standard "
                f"errors with no correction, but `correction`={correction!r} was also given; "
                "pass `alpha` (and `correction`) for the corrected test, or `threshold` alone."
            )
    chosen = ("holm" if threshold is None else "none") if correction is None else correction
    return CallRule(
        alpha=check_float(alpha, "alpha", minimum=0.0, maximum=1.0),
        correction=check_choice(chosen, "correction", CORRECTIONS),
        threshold=checked_threshold,
        min_interventions=check_int(min_interventions, "min_interventions", minimum=1),
    )


@dataclass(frozen=True)
class MetricCall:
    """What one metric says about one method.

    Attributes
    ----------
    metric : str
        The metric's column name, e.g. ``"deletion"`` or ``"road_morf"``.
    intervention : str
        What the metric does to the series (metrics on the same intervention count once).
    improvement : float
        Mean over cases of the map's advantage over the random reference, oriented so that
        positive is better (e.g. random AUC minus the map's AUC for deletion).
    stderr : float
        Its standard error over cases (NaN with fewer than two cases).
    call : {"better", "worse", "tie"}
    p_value : float
        Two-sided p-value of the paired t test (NaN with fewer than two cases).
    p_adjusted : float
        ``p_value`` adjusted for the number of the method's calls (Holm by default); the call
        is "better" or "worse" when it is at most ``alpha``.
    """

    metric: str
    intervention: str
    improvement: float
    stderr: float
    call: str
    p_value: float = float("nan")
    p_adjusted: float = float("nan")


def call_metric(
    metric: str,
    intervention: str,
    improvement: np.ndarray,
    threshold: float | None = None,
    alpha: float = ALPHA,
) -> MetricCall:
    """The call of one metric from its per-case improvements over random (positive = better).

    A paired t test: ``"better"`` when the two-sided p-value is at most ``alpha`` and the
    mean is positive, ``"worse"`` when it is negative, ``"tie"`` otherwise (no correction
    for other calls: :func:`correct` makes that). With ``threshold`` the call is made at
    ``|mean| > threshold`` standard errors instead. NaN cases (not measured) are dropped;
    fewer than two measured cases always tie (no error estimate); cases that all improve by
    the same amount are decided by the sign.
    """
    nan = float("nan")
    values = np.asarray(improvement, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return MetricCall(metric, intervention, nan, nan, "tie")
    mean = float(values.mean())
    if values.size < 2:
        return MetricCall(metric, intervention, mean, nan, "tie")
    stderr = float(values.std(ddof=1) / np.sqrt(values.size))
    scale = max(float(np.abs(values).max()), 1e-300)
    sign = "better" if mean > 0 else "worse"
    if stderr <= 1e-12 * scale:  # every case the same: the sign decides
        flat = abs(mean) <= 1e-12 * scale
        p = 1.0 if flat else 0.0
        return MetricCall(metric, intervention, mean, stderr, "tie" if flat else sign, p, p)
    t = mean / stderr
    p = two_sided_p(t, values.size - 1)
    decided = abs(t) > threshold if threshold is not None else p <= alpha
    return MetricCall(metric, intervention, mean, stderr, sign if decided else "tie", p, p)


def correct(calls: Sequence[MetricCall], rule: CallRule) -> tuple[MetricCall, ...]:
    """``calls`` re-decided on p-values adjusted for their number (``rule.correction``).

    With ``rule.threshold`` set, or ``correction="none"``, the calls are returned as made.
    """
    if rule.threshold is not None or rule.correction == "none" or not calls:
        return tuple(calls)
    p = adjusted(np.array([c.p_value for c in calls]), rule.correction)
    out = []
    for call, p_adj in zip(calls, p):
        decided = bool(np.isfinite(p_adj) and p_adj <= rule.alpha)
        verdict = "tie"
        if decided and np.isfinite(call.improvement) and call.improvement != 0:
            verdict = "better" if call.improvement > 0 else "worse"
        out.append(replace(call, call=verdict, p_adjusted=float(p_adj)))
    return tuple(out)


@dataclass(frozen=True)
class Verdict:
    """The combined verdict of several metrics on one method.

    Attributes
    ----------
    label : {"better than random", "worse than random", "metrics disagree", "inconclusive"}
    better, worse, tied : tuple of str
        The metrics that called the map better than, worse than, or level with random.
    calls : tuple of MetricCall
    uncounted : tuple of MetricCall
        Calls shown but not counted: metrics that read only the magnitude of a signed map
        (they judge ``|map|``, not the map).
    unmatched : tuple of MetricCall
        Calls shown but not counted because the reference does not match the map's shape: on
        a map built of blocks (runs of equal values along time) a metric's scattered-point
        reference, where its ``*_block`` column (random runs of the map's own sizes) is the
        matched one.
    """

    label: str
    better: tuple[str, ...]
    worse: tuple[str, ...]
    tied: tuple[str, ...]
    calls: tuple[MetricCall, ...]
    uncounted: tuple[MetricCall, ...] = ()
    unmatched: tuple[MetricCall, ...] = ()

    @property
    def shown(self) -> tuple[MetricCall, ...]:
        """Every call: the counted ones, then those shown only."""
        return self.calls + self.uncounted + self.unmatched

    @property
    def detail(self) -> str:
        """Which metric said what, e.g. ``"better: road_morf, aopcr; worse: deletion"``."""
        parts = [
            f"{name}: {', '.join(metrics)}"
            for name, metrics in (("better", self.better), ("worse", self.worse))
            if metrics
        ]
        if self.tied:
            parts.append(f"tie: {', '.join(self.tied)}")
        if self.uncounted:
            said = ", ".join(f"{c.metric} {c.call}" for c in self.uncounted)
            parts.append(f"on |map|, not counted: {said}")
        if self.unmatched:
            said = ", ".join(f"{c.metric} {c.call}" for c in self.unmatched)
            parts.append(f"point reference on a block map, not counted: {said}")
        return "; ".join(parts) if parts else "no metric with a random reference was run"

    def __str__(self) -> str:
        return f"{self.label} ({self.detail})"


def combine(
    calls: Sequence[MetricCall],
    min_interventions: int = 2,
    uncounted: Sequence[MetricCall] = (),
    unmatched: Sequence[MetricCall] = (),
) -> Verdict:
    """The verdict of ``calls`` (see the module's docstring for the rule).

    Parameters
    ----------
    calls : sequence of MetricCall
    min_interventions : int, default=2
        How many different interventions must agree before the map is called better (or
        worse) than random.
    uncounted, unmatched : sequence of MetricCall, optional
        Calls kept with the verdict for display only (see :class:`Verdict`).
    """
    better = tuple(c.metric for c in calls if c.call == "better")
    worse = tuple(c.metric for c in calls if c.call == "worse")
    tied = tuple(c.metric for c in calls if c.call == "tie")
    if better and worse:
        label = DISAGREE
    elif len({c.intervention for c in calls if c.call == "better"}) >= min_interventions:
        label = BETTER
    elif len({c.intervention for c in calls if c.call == "worse"}) >= min_interventions:
        label = WORSE
    else:
        label = INCONCLUSIVE
    return Verdict(label, better, worse, tied, tuple(calls), tuple(uncounted), tuple(unmatched))
