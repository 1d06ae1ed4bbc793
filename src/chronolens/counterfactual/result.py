"""``Counterfactual``: the frozen result of :func:`chronolens.counterfactual`, per case.

Arrays are in the chronolens layout ``(n_cases, n_channels, n_timepoints)`` whatever the layout
of the input (``layout`` records it). ``save`` writes a plain ``.npz`` (arrays plus one JSON
string, no pickle) and ``load`` reads it back with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Counterfactual"]

#: Per-case arrays, sliced together; the first axis is the case.
_CASE_ARRAYS = (
    "original",
    "counterfactual",
    "changed",
    "original_class",
    "target_class",
    "new_class",
    "new_probability",
    "new_score",
    "validity",
    "l1",
    "l2",
    "dtw",
    "sparsity",
    "reference_index",
    "window_start",
    "window_length",
)


@dataclass(frozen=True)
class Counterfactual:
    """Counterfactual explanations of a batch of cases.

    Attributes
    ----------
    original, counterfactual : numpy.ndarray of shape (n_cases, n_channels, n_timepoints)
        The query series and what they would have to look like to be classed otherwise.
    changed : numpy.ndarray of bool, same shape
        The points where ``counterfactual`` differs from ``original``.
    original_class, target_class, new_class : numpy.ndarray of int, shape (n_cases,)
        The predicted class of the query; the class asked for (-1: any other class); the
        predicted class of the counterfactual.
    new_probability, new_score : numpy.ndarray of float, shape (n_cases,)
        Probability (the output, or its softmax for logits) and raw score of ``new_class``.
    validity : numpy.ndarray of bool, shape (n_cases,)
        True when the class flipped to the target (to any other class for target -1).
    l1, l2, dtw : numpy.ndarray of float, shape (n_cases,)
        Proximity of the counterfactual to the query (lower is closer).
    sparsity : numpy.ndarray of float, shape (n_cases,)
        Fraction of the case's points that changed.
    reference_index : numpy.ndarray of int, shape (n_cases,)
        Index into the reference data of the case the values came from (the nearest unlike
        neighbour, or CoMTE's distractor); -1 when none was usable.
    window_start, window_length : numpy.ndarray of int, shape (n_cases,)
        Native Guide's copied time window (-1 for CoMTE).
    notes : tuple of str
        One sentence per case saying what happened ("" when nothing needs saying), e.g. that no
        window flips the class.
    method : str
        ``"native_guide"`` or ``"comte"``.
    params : dict
        The parameters the method ran with (distance, relevance method, ...), JSON-ready.
    layout : str
        Axis order of the input data.
    """

    original: np.ndarray
    counterfactual: np.ndarray
    changed: np.ndarray
    original_class: np.ndarray
    target_class: np.ndarray
    new_class: np.ndarray
    new_probability: np.ndarray
    new_score: np.ndarray
    validity: np.ndarray
    l1: np.ndarray
    l2: np.ndarray
    dtw: np.ndarray
    sparsity: np.ndarray
    reference_index: np.ndarray
    window_start: np.ndarray
    window_length: np.ndarray
    notes: tuple[str, ...]
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    layout: str = "ncl"

    def __post_init__(self) -> None:
        n = self.original.shape[0]
        for name in _CASE_ARRAYS:
            array = getattr(self, name)
            if array.shape[0] != n:
                raise ValueError(f"`{name}` has {array.shape[0]} cases, `original` has {n}.")
            array.setflags(write=False)
        if self.counterfactual.shape != self.original.shape or self.changed.shape != (
            self.original.shape
        ):
            raise ValueError("`counterfactual` and `changed` must have the shape of `original`.")

    @property
    def n_cases(self) -> int:
        """Number of cases."""
        return int(self.original.shape[0])

    def __len__(self) -> int:
        return self.n_cases

    def __getitem__(self, index: int | slice | list[int] | np.ndarray) -> Counterfactual:
        """The counterfactuals of some cases (an int keeps the case axis)."""
        if isinstance(index, (int, np.integer)):
            if not -self.n_cases <= int(index) < self.n_cases:
                raise IndexError(f"case {int(index)} is out of range for {self.n_cases} cases.")
            index = [int(index) % self.n_cases]
        picked = np.arange(self.n_cases)[index]
        values: dict[str, Any] = {name: getattr(self, name)[picked] for name in _CASE_ARRAYS}
        notes = tuple(self.notes[int(i)] for i in picked)
        return Counterfactual(
            **values, notes=notes, method=self.method, params=dict(self.params), layout=self.layout
        )

    def __repr__(self) -> str:
        n, c, t = self.original.shape
        valid = int(self.validity.sum())
        return (
            f"Counterfactual(method={self.method!r}, n_cases={n}, n_channels={c}, "
            f"n_timepoints={t}, valid={valid}/{n}, mean sparsity={float(self.sparsity.mean()):.3f})"
        )

    def plot(self, case: int = 0, **kwargs: Any) -> Any:
        """Figure of one case: see :func:`chronolens.plot.plot_counterfactual`."""
        from chronolens.plot.counterfactual import plot_counterfactual

        return plot_counterfactual(self, case, **kwargs)

    def summary_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready row per case: classes, probability, validity, proximity, sparsity."""
        rows = []
        for i in range(self.n_cases):
            rows.append(
                {
                    "case": i,
                    "original_class": int(self.original_class[i]),
                    "target_class": int(self.target_class[i]),
                    "new_class": int(self.new_class[i]),
                    "new_probability": float(self.new_probability[i]),
                    "validity": bool(self.validity[i]),
                    "l1": float(self.l1[i]),
                    "l2": float(self.l2[i]),
                    "dtw": float(self.dtw[i]),
                    "sparsity": float(self.sparsity[i]),
                    "reference_index": int(self.reference_index[i]),
                    "note": self.notes[i],
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for the report: method, parameters, layout and per-case rows."""
        return {
            "method": self.method,
            "params": dict(self.params),
            "layout": self.layout,
            "n_cases": self.n_cases,
            "valid": int(self.validity.sum()),
            "cases": self.summary_rows(),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result to an ``.npz`` file (no pickle); returns the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        meta = {"method": self.method, "params": self.params, "layout": self.layout}
        meta["notes"] = list(self.notes)
        arrays = {name: getattr(self, name) for name in _CASE_ARRAYS}
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Counterfactual:
        """Read a result written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(Path(path), allow_pickle=False) as data:
            missing = [name for name in (*_CASE_ARRAYS, "meta") if name not in data.files]
            if missing:
                raise ValueError(
                    f"{os.fspath(path)!r} is not a saved Counterfactual: it lacks {missing}."
                )
            meta = json.loads(str(data["meta"]))
            values = {name: np.array(data[name]) for name in _CASE_ARRAYS}
        return cls(
            **values,
            notes=tuple(meta["notes"]),
            method=meta["method"],
            params=meta["params"],
            layout=meta["layout"],
        )


#: The field names, for tests and the report.
FIELDS = tuple(f.name for f in fields(Counterfactual))
