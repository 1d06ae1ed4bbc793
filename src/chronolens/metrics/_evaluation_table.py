"""The table :func:`chronolens.metrics.evaluate` returns: one row per method, and its verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chronolens.metrics._evaluation_metrics import METRICS
from chronolens.metrics._verdict import Verdict

NAN = float("nan")


@dataclass(frozen=True)
class MethodEvaluation:
    """The scores of one method (means over cases; NaN where not measured).

    ``deletion_auc`` ... ``insertion_random_auc`` are the ``"deletion"`` and ``"insertion"``
    metrics' (NaN when not run). ``metrics`` and ``references`` hold every metric's mean value
    and random-reference mean by name; ``verdict`` combines their calls (see
    :func:`chronolens.metrics.evaluate`).
    """

    method: str
    seconds_per_case: float
    deletion_auc: float
    deletion_random_auc: float
    insertion_auc: float
    insertion_random_auc: float
    average_precision: float = NAN
    roc_auc: float = NAN
    relevance_mass: float = NAN
    sanity: str = "not run"
    metrics: Mapping[str, float] = field(default_factory=dict)
    references: Mapping[str, float] = field(default_factory=dict)
    verdict: Verdict | None = None

    @property
    def verdict_label(self) -> str:
        """``"better than random"``, ``"worse than random"``, ``"metrics disagree"``, ..."""
        return "not run" if self.verdict is None else self.verdict.label

    def to_dict(self) -> dict[str, Any]:
        """Plain values (NaN as None) for JSON."""

        def clean(value: float) -> float | None:
            return None if not math.isfinite(value) else float(value)

        calls = () if self.verdict is None else self.verdict.calls
        return {
            "method": self.method,
            "seconds_per_case": clean(self.seconds_per_case),
            "metrics": {name: clean(v) for name, v in self.metrics.items()},
            "random_references": {name: clean(v) for name, v in self.references.items()},
            "average_precision": clean(self.average_precision),
            "roc_auc": clean(self.roc_auc),
            "relevance_mass": clean(self.relevance_mass),
            "sanity": self.sanity,
            "verdict": self.verdict_label,
            "verdict_detail": None if self.verdict is None else self.verdict.detail,
            "calls": [
                {
                    "metric": c.metric,
                    "intervention": c.intervention,
                    "improvement": clean(c.improvement),
                    "stderr": clean(c.stderr),
                    "call": c.call,
                }
                for c in calls
            ],
        }


def _cell(value: float, reference: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.3f}" + ("" if not math.isfinite(reference) else f" ({reference:.3f})")


@dataclass(frozen=True)
class Evaluation:
    """Rows of :class:`MethodEvaluation`; ``str()`` prints the table and the verdicts."""

    rows: tuple[MethodEvaluation, ...]
    has_mask: bool
    metric_names: tuple[str, ...] = ("deletion", "insertion")

    def __str__(self) -> str:
        header = ["method", "s/case"] + [f"{name} (random)" for name in self.metric_names]
        if self.has_mask:
            header += ["AP", "ROC AUC", "mass"]
        header += ["sanity", "verdict"]
        lines = [header]
        for row in self.rows:
            cells = [row.method, f"{row.seconds_per_case:.4f}"]
            cells += [
                _cell(row.metrics.get(name, NAN), row.references.get(name, NAN))
                for name in self.metric_names
            ]
            if self.has_mask:
                cells += [
                    f"{row.average_precision:.3f}",
                    f"{row.roc_auc:.3f}",
                    f"{row.relevance_mass:.3f}",
                ]
            cells += [row.sanity, row.verdict_label]
            lines.append(cells)
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in lines]
        text.insert(1, "  ".join("-" * w for w in widths))
        details = [f"  {row.method}: {row.verdict}" for row in self.rows if row.verdict]
        if details:
            text += ["", "verdicts (which metric said what, against its random reference):"]
            text += details
        return "\n".join(text)

    def to_dict(self) -> dict[str, Any]:
        """The table as plain values, for ``json.dumps`` (``chronolens evaluate --json``)."""
        return {
            "metrics": list(self.metric_names),
            "questions": {name: METRICS[name].question for name in self.metric_names},
            "rows": [row.to_dict() for row in self.rows],
        }
