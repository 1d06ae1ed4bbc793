"""One table that answers "which method should I trust on this model?"."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chronolens.series import Layout, as_series
from chronolens.targets import TargetLike


@dataclass(frozen=True)
class MethodEvaluation:
    """The scores of one method (means over cases; NaN where not measured)."""

    method: str
    seconds_per_case: float
    deletion_auc: float
    deletion_random_auc: float
    insertion_auc: float
    insertion_random_auc: float
    average_precision: float = float("nan")
    roc_auc: float = float("nan")
    relevance_mass: float = float("nan")
    sanity: str = "not run"


@dataclass(frozen=True)
class Evaluation:
    """Rows of :class:`MethodEvaluation`; ``str()`` prints the table."""

    rows: tuple[MethodEvaluation, ...]
    has_mask: bool

    def __str__(self) -> str:
        header = ["method", "s/case", "deletion AUC (random)", "insertion AUC (random)"]
        if self.has_mask:
            header += ["AP", "ROC AUC", "mass"]
        header += ["sanity"]
        lines = [header]
        for row in self.rows:
            cells = [
                row.method,
                f"{row.seconds_per_case:.4f}",
                f"{row.deletion_auc:.3f} ({row.deletion_random_auc:.3f})",
                f"{row.insertion_auc:.3f} ({row.insertion_random_auc:.3f})",
            ]
            if self.has_mask:
                cells += [
                    f"{row.average_precision:.3f}",
                    f"{row.roc_auc:.3f}",
                    f"{row.relevance_mass:.3f}",
                ]
            cells += [row.sanity]
            lines.append(cells)
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in lines]
        text.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(text)


def _data(x: Any, mask: Any, layout: Layout, pad_value: float | None) -> Any:
    """``(series, truth, the cases the sanity check may use)``: arrays, or a list when ragged."""
    from chronolens._lengths import is_ragged, pad_series

    if is_ragged(x):
        fill = 0.0 if pad_value is None else float(pad_value)
        _, lengths = pad_series(x, layout, pad_value=fill)
        return list(x), mask, np.flatnonzero(lengths == lengths[0])
    series = as_series(x, layout)
    truth = None
    if mask is not None:
        truth = as_series(np.asarray(mask).astype(np.float32), layout, name="mask") > 0.5
        if truth.shape != series.shape:
            raise ValueError(
                f"`mask` has shape {truth.shape} in the chronolens layout; expected the shape of "
                f"the data {series.shape}. Pass a boolean array of the same shape as the data."
            )
    return series, truth, np.arange(len(series))


def _sanity_series(series: Any, layout: Layout, cases: Any) -> Any:
    """The sanity check's cases as one equal-length (n, c, t) array."""
    if not isinstance(series, list):
        return series[cases]
    return np.stack([as_series(series[i], layout)[0] for i in cases])


def _method_params(params: Any, methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``params`` checked to name only evaluated methods."""
    checked = {str(name): dict(values) for name, values in (params or {}).items()}
    unknown = sorted(set(checked) - set(methods))
    if unknown:
        raise ValueError(
            f"`params` names {unknown}, which are not among `methods` ({list(methods)}); "
            f"add them to `methods` or drop them from `params`."
        )
    return checked


def evaluate(
    model: Any,
    x: Any,
    methods: Sequence[str],
    *,
    mask: Any = None,
    target: TargetLike = None,
    baseline: Any = "zeros",
    granularity: str = "point",
    n_steps: int = 20,
    sanity: bool = True,
    sanity_cases: int = 8,
    layout: Layout = "ncl",
    seed: int = 0,
    clone: Any = None,
    batch_size: int | str = "auto",
    pad_value: float | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Evaluation:
    """Explain ``x`` with each method and score every map.

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
    x : array-like of shape (n_cases, n_channels, n_timepoints), or a list of (c, t_i) arrays
        Unequal-length series are explained as :func:`chronolens.explain` does (see
        ``pad_value``); the curves and scores use each case's own points only.
    methods : sequence of str
        Registered method names.
    mask : array-like of bool, optional
        Ground truth of the shape of ``x``; adds average precision, ROC AUC and relevance mass.
    target : optional
        As in :func:`chronolens.explain`.
    baseline, granularity, n_steps
        Of the deletion and insertion curves (see :func:`chronolens.metrics.deletion`).
    sanity : bool, default=True
        Run the cascading model-randomization test (PyTorch and Keras models) on the first
        ``sanity_cases`` cases; on unequal-length data, on the first ``sanity_cases`` cases
        as long as the first case, cut to that length.
    sanity_cases : int, default=8
    layout : {"ncl", "nlc"}, default="ncl"
        Layout of ``x`` and ``mask``.
    seed : int, default=0
        Seed of randomised methods and of the random references.
    clone : callable, optional
        Returns a fresh copy of the model for the randomization test (see
        :func:`chronolens.metrics.model_randomization`).
    batch_size : int or "auto", default="auto"
        Rows per model call, as in :func:`chronolens.explain`.
    pad_value : float or None, default=None
        For unequal-length ``x``, as in :func:`chronolens.explain`: None explains each length
        at its own length; a number pads every case with it for fixed-length models.
    params : mapping of method name to mapping, optional
        Parameters of individual methods, e.g. ``{"occlusion": {"window": 3}}`` for series
        shorter than occlusion's default 15-point window.

    Returns
    -------
    Evaluation
        One row per method; ``print()`` shows the table.
    """
    from chronolens._explain import explain
    from chronolens.metrics.faithfulness import deletion, insertion
    from chronolens.metrics.localization import (
        average_precision_score,
        relevance_mass_score,
        roc_auc_score,
    )
    from chronolens.metrics.sanity import UncopyableModelError, model_randomization
    from chronolens.models import BlackBoxModel, adapt
    from chronolens.registry import get_method

    series, truth, sanity_cases_at = _data(x, mask, layout, pad_value)
    sanity_series = _sanity_series(series, layout, sanity_cases_at[:sanity_cases])
    has_weights = not isinstance(adapt(model), BlackBoxModel)
    specs = [get_method(name) for name in methods]
    params = _method_params(params, methods)
    sanity_target = target
    if target is not None and not callable(target) and np.ndim(target) == 1:
        sanity_target = np.asarray(target)[sanity_cases_at[:sanity_cases]]
    rows = []
    for spec in specs:
        start = time.perf_counter()
        exp = explain(
            model,
            series,
            spec.name,
            target=target,
            progress=False,
            seed=seed,
            batch_size=batch_size,
            layout=layout if isinstance(series, list) else "ncl",
            pad_value=pad_value,
            **params.get(spec.name, {}),
        )
        seconds = (time.perf_counter() - start) / len(series)
        curve_args = {
            "baseline": baseline,
            "granularity": granularity,
            "n_steps": n_steps,
            "batch_size": batch_size,
        }
        deleted = deletion(model, exp, seed=seed, target=target, **curve_args)
        inserted = insertion(model, exp, seed=seed, target=target, **curve_args)
        scores: dict[str, Any] = {}
        if truth is not None:
            scores["average_precision"] = float(np.nanmean(average_precision_score(exp, truth)))
            scores["roc_auc"] = float(np.nanmean(roc_auc_score(exp, truth)))
            scores["relevance_mass"] = float(np.nanmean(relevance_mass_score(exp, truth)))
        verdict = "not run"
        if sanity and has_weights:
            try:
                check = model_randomization(
                    model,
                    sanity_series,
                    spec.name,
                    target=sanity_target,
                    seed=seed,
                    clone=clone,
                    **params.get(spec.name, {}),
                )
                verdict = f"{'pass' if check.passed else 'FAIL'} ({check.mean_absolute[-1]:.2f})"
            except UncopyableModelError:
                verdict = "n/a (model cannot be copied)"
        elif sanity:
            verdict = "n/a (a black box has no weights to randomize)"
        rows.append(
            MethodEvaluation(
                method=spec.name,
                seconds_per_case=seconds,
                deletion_auc=deleted.mean_auc,
                deletion_random_auc=deleted.mean_random_auc,
                insertion_auc=inserted.mean_auc,
                insertion_random_auc=inserted.mean_random_auc,
                sanity=verdict,
                **scores,
            )
        )
    return Evaluation(rows=tuple(rows), has_mask=truth is not None)
