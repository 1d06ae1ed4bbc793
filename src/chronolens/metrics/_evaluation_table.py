"""The table :func:`chronolens.metrics.evaluate` returns: one row per method, and its verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chronolens.metrics._evaluation_metrics import question
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

        calls = () if self.verdict is None else self.verdict.shown
        counted = set() if self.verdict is None else set(self.verdict.calls)
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
                    "p_value": clean(c.p_value),
                    "p_adjusted": clean(c.p_adjusted),
                    "call": c.call,
                    "counted": c in counted,
                }
                for c in calls
            ],
        }


def _cell(value: float, reference: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}" + ("" if not math.isfinite(reference) else f" / {reference:.4g}")


def _aligned(lines: list[list[str]]) -> list[str]:
    """Rows of cells as left-aligned columns, a rule under the header."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return text


@dataclass(frozen=True)
class Evaluation:
    """Rows of :class:`MethodEvaluation`; ``str()`` prints the table and the verdicts."""

    rows: tuple[MethodEvaluation, ...]
    has_mask: bool
    metric_names: tuple[str, ...] = ("deletion", "insertion")

    def __str__(self) -> str:
        return "\n".join([*self._summary(), "", *self._scores()])

    def _summary(self) -> list[str]:
        """One line per method: deletion / insertion, localization, sanity, verdict."""
        shown = [name for name in ("deletion", "insertion") if name in self.metric_names]
        header = ["method", "s/case"] + [f"{name} AUC (random)" for name in shown]
        if self.has_mask:
            header += ["AP", "ROC AUC", "mass"]
        lines = [[*header, "sanity", "verdict"]]
        for row in self.rows:
            cells = [row.method, f"{row.seconds_per_case:.4f}"]
            cells += [f"{row.metrics[name]:.3f} ({row.references[name]:.3f})" for name in shown]
            if self.has_mask:
                cells += [
                    f"{row.average_precision:.3f}",
                    f"{row.roc_auc:.3f}",
                    f"{row.relevance_mass:.3f}",
                ]
            lines.append([*cells, row.sanity, row.verdict_label])
        return _aligned(lines)

    def _scores(self) -> list[str]:
        """One line per metric column: each method's value, its reference and the call."""
        lines = [["metric (value / random, call)"] + [row.method for row in self.rows]]
        for name in self.metric_names:
            cells = [name]
            for row in self.rows:
                made = () if row.verdict is None else row.verdict.shown
                calls = {c.metric: c for c in made}
                mark = {"better": " +", "worse": " -", "tie": " ="}
                call = mark[calls[name].call] if name in calls else ""
                cells.append(
                    _cell(row.metrics.get(name, NAN), row.references.get(name, NAN)) + call
                )
            lines.append(cells)
        text = _aligned(lines)
        text.append(
            "+ better than random, - worse, = tie (a paired test over cases); n/a: not measured "
            "(a `_block` column is left out for a map without runs, where it is the point one); "
            "cpd, cpp and infidelity read |map| and count only for maps without negative values."
        )
        details = [f"  {row.method}: {row.verdict}" for row in self.rows if row.verdict]
        if details:
            text += ["verdicts (better or worse only where two interventions agree):", *details]
        return text

    def to_dict(self) -> dict[str, Any]:
        """The table as plain values, for ``json.dumps`` (``chronolens evaluate --json``)."""
        return {
            "metrics": list(self.metric_names),
            "questions": {name: question(name) for name in self.metric_names},
            "rows": [row.to_dict() for row in self.rows],
        }
