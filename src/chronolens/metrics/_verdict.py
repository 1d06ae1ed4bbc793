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

A call is "better" when the mean per-case improvement is at least ``threshold`` standard
errors above 0 (a paired test against the reference, which is drawn on the same cases),
"worse" when it is that far below, and "tie" otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BETTER, WORSE, DISAGREE, INCONCLUSIVE = (
    "better than random",
    "worse than random",
    "metrics disagree",
    "inconclusive",
)
LABELS = (BETTER, WORSE, DISAGREE, INCONCLUSIVE)
THRESHOLD = 2.0  # standard errors


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
    """

    metric: str
    intervention: str
    improvement: float
    stderr: float
    call: str


def call_metric(
    metric: str, intervention: str, improvement: np.ndarray, threshold: float = THRESHOLD
) -> MetricCall:
    """The call of one metric from its per-case improvements over random (positive = better).

    ``"better"`` when the mean is more than ``threshold`` standard errors above 0,
    ``"worse"`` when below, ``"tie"`` otherwise; NaN cases (not measured) are dropped, and
    fewer than two measured cases always tie (no error estimate).
    """
    values = np.asarray(improvement, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return MetricCall(metric, intervention, float("nan"), float("nan"), "tie")
    mean = float(values.mean())
    if values.size < 2:
        return MetricCall(metric, intervention, mean, float("nan"), "tie")
    stderr = float(values.std(ddof=1) / np.sqrt(values.size))
    scale = max(float(np.abs(values).max()), 1e-300)
    if stderr <= 1e-12 * scale:  # every case the same: the sign decides
        call = "tie" if abs(mean) <= 1e-12 * scale else ("better" if mean > 0 else "worse")
    else:
        t = mean / stderr
        call = "better" if t > threshold else "worse" if t < -threshold else "tie"
    return MetricCall(metric, intervention, mean, stderr, call)


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
    """

    label: str
    better: tuple[str, ...]
    worse: tuple[str, ...]
    tied: tuple[str, ...]
    calls: tuple[MetricCall, ...]
    uncounted: tuple[MetricCall, ...] = ()

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
        return "; ".join(parts) if parts else "no metric with a random reference was run"

    def __str__(self) -> str:
        return f"{self.label} ({self.detail})"


def combine(
    calls: Sequence[MetricCall],
    min_interventions: int = 2,
    uncounted: Sequence[MetricCall] = (),
) -> Verdict:
    """The verdict of ``calls`` (see the module's docstring for the rule).

    Parameters
    ----------
    calls : sequence of MetricCall
    min_interventions : int, default=2
        How many different interventions must agree before the map is called better (or
        worse) than random.
    uncounted : sequence of MetricCall, optional
        Calls kept with the verdict for display only.
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
    return Verdict(label, better, worse, tied, tuple(calls), tuple(uncounted))
