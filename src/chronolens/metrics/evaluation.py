"""One table that answers "which method should I trust on this model?"."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chronolens.explanation import Explanation
from chronolens.metrics._evaluation_metrics import (
    DEFAULT_METRICS,
    METRICS,
    Settings,
    check_metrics,
    column_order,
)
from chronolens.metrics._evaluation_table import NAN, Evaluation, MethodEvaluation
from chronolens.metrics._verdict import CallRule, Verdict, call_metric, call_rule, combine, correct
from chronolens.series import Layout, as_series
from chronolens.targets import TargetLike

__all__ = ["DEFAULT_METRICS", "METRICS", "Evaluation", "MethodEvaluation", "evaluate", "judge"]


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


def _sanity(
    model: Any, series: Any, name: str, target: Any, options: dict[str, Any], run: str
) -> str:
    """The model-randomization verdict of one method (``run`` says whether it can run)."""
    from chronolens.metrics.sanity import UncopyableModelError, model_randomization

    if run != "yes":
        return run
    try:
        check = model_randomization(model, series, name, target=target, **options)
    except UncopyableModelError:
        return "n/a (model cannot be copied)"
    return f"{'pass' if check.passed else 'FAIL'} ({check.mean_absolute[-1]:.2f})"


def _localization(exp: Any, truth: Any) -> dict[str, float]:
    """Average precision, ROC AUC and relevance mass against the mask (none without one)."""
    from chronolens.metrics.localization import (
        average_precision_score,
        relevance_mass_score,
        roc_auc_score,
    )

    if truth is None:
        return {}
    return {
        "average_precision": float(np.nanmean(average_precision_score(exp, truth))),
        "roc_auc": float(np.nanmean(roc_auc_score(exp, truth))),
        "relevance_mass": float(np.nanmean(relevance_mass_score(exp, truth))),
    }


def _faithfulness(
    model: Any, exp: Any, names: Sequence[str], settings: Settings, rule: CallRule
) -> tuple[dict[str, float], dict[str, float], Verdict]:
    """Every column's mean and random-reference mean, and the verdict of their calls."""
    values, references = {}, {}
    calls: list[Any] = []
    uncounted: list[Any] = []
    unmatched: list[Any] = []
    signed = bool(np.nanmin(exp.attributions) < 0)

    def mean(per_case: np.ndarray) -> float:
        return float(np.nanmean(per_case)) if np.isfinite(per_case).any() else NAN

    for name in names:
        measured_columns = METRICS[name].run(model, exp, settings)
        for column, measured in measured_columns.items():
            values[column] = mean(measured.value)
            references[column] = mean(measured.reference)
            if np.isfinite(measured.improvement).any():
                call = call_metric(
                    column, measured.intervention, measured.improvement, rule.threshold, rule.alpha
                )
                if not (measured.reads_sign or not signed):
                    uncounted.append(call)
                elif f"{column}_block" in measured_columns:  # the matched one is *_block
                    unmatched.append(call)
                else:
                    calls.append(call)
    verdict = combine(
        correct(calls, rule),
        rule.min_interventions,
        correct(uncounted, rule),
        correct(unmatched, rule),
    )
    return values, references, verdict


def judge(
    model: Any,
    explanation: Explanation,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    n_steps: int = 20,
    alpha: float = 0.05,
    correction: str | None = None,
    threshold: float | None = None,
    min_interventions: int = 2,
    seed: int = 0,
    batch_size: int | str = "auto",
) -> MethodEvaluation:
    """The verdict of :func:`evaluate` on one ready map (no timing, no sanity check).

    Deletion and insertion replace points with zeros; every other setting is
    :func:`evaluate`'s. The report's faithfulness section calls this.
    """
    names = check_metrics(metrics)
    settings = Settings("zeros", "point", n_steps, batch_size, seed, None)
    rule = call_rule(alpha, correction, threshold, min_interventions)
    values, references, verdict = _faithfulness(model, explanation, names, settings, rule)
    return MethodEvaluation(
        method=str(explanation.method),
        seconds_per_case=NAN,
        deletion_auc=values.get("deletion", NAN),
        deletion_random_auc=references.get("deletion", NAN),
        insertion_auc=values.get("insertion", NAN),
        insertion_random_auc=references.get("insertion", NAN),
        sanity="n/a (a given map)",
        metrics=values,
        references=references,
        verdict=verdict,
    )


def evaluate(
    model: Any,
    x: Any,
    methods: Sequence[str],
    *,
    mask: Any = None,
    target: TargetLike = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    baseline: Any = "zeros",
    granularity: str = "point",
    n_steps: int = 20,
    alpha: float = 0.05,
    correction: str | None = None,
    threshold: float | None = None,
    min_interventions: int = 2,
    sanity: bool = True,
    sanity_cases: int = 8,
    layout: Layout = "ncl",
    seed: int = 0,
    clone: Any = None,
    batch_size: int | str = "auto",
    pad_value: float | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Evaluation:
    """Explain ``x`` with each method, score every map, and give a verdict per method.

    The verdict survives the choice of metric: a method is ``"better than random"`` only
    where metrics built on at least ``min_interventions`` different interventions each beat
    their random reference and none is below it; ``"worse than random"`` the same way round;
    ``"metrics disagree"`` (naming which said what) where one metric is above its reference
    and another below; ``"inconclusive"`` otherwise. A metric's call is a paired t test over
    cases of its improvement over the random reference; the p-values of one method's calls
    are adjusted for their number (Holm), so a map no better than random gets a verdict
    other than ``"inconclusive"`` with probability at most ``alpha``.

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
    x : array-like of shape (n_cases, n_channels, n_timepoints), or a list of (c, t_i) arrays
        Unequal-length series are explained as :func:`chronolens.explain` does (see
        ``pad_value``); the curves and scores use each case's own points only.
    methods : sequence of str or Explanation
        Registered method names, or maps already made on ``x`` (an :class:`Explanation`,
        scored as it is: no timing and no sanity check), listed after the named ones.
    mask : array-like of bool, optional
        Ground truth of the shape of ``x``; adds average precision, ROC AUC and relevance mass.
    target : optional
        As in :func:`chronolens.explain`.
    metrics : sequence of str, default=DEFAULT_METRICS
        The faithfulness metrics to run, by name (``chronolens.metrics.evaluation.METRICS``
        maps each column to the question it answers): ``"deletion"`` and ``"insertion"``
        (points replaced with ``baseline``), ``"deletion_linear"`` and
        ``"insertion_linear"`` (linear imputation), ``"deletion_window"`` (windows replaced
        with their own mean), ``"road"`` (columns ``road_morf``, ``road_lerf``), ``"aopcr"``
        (MILLET's: time steps removed), ``"cpd"``, ``"cpp"``, ``"infidelity"`` (against a
        random map; they read the map's magnitude only, so on a map with negative values
        their calls are shown but not counted), ``"max_sensitivity"``, ``"stability"``
        (robustness: columns without a call). Curves also get a ``*_block`` column against
        random runs of the map's own block sizes when the map has runs.
    baseline, granularity, n_steps
        Of the ``"deletion"`` and ``"insertion"`` curves (see
        :func:`chronolens.metrics.deletion`).
    alpha : float, default=0.05
        Family-wise error rate of one method's calls: a call is "better" or "worse" when its
        adjusted p-value is at most ``alpha``.
    correction : {"holm", "bonferroni", "none"}, optional
        How the p-values of one method's calls are adjusted for their number; default
        ``"holm"`` (``"none"`` when ``threshold`` is given).
    threshold : float, optional
        The uncorrected fixed rule instead: a call when the mean improvement is more than
        ``threshold`` standard errors from 0 (``alpha`` is then unused; ``correction`` must
        be ``"none"`` or left out).
    min_interventions : int, default=2
        Different interventions that must agree for "better" (or "worse") than random.
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
        One row per method; ``print()`` shows the table and each verdict's detail.
    """
    from chronolens._explain import explain
    from chronolens.models import BlackBoxModel, adapt
    from chronolens.registry import get_method

    names = check_metrics(metrics)
    rule = call_rule(alpha, correction, threshold, min_interventions)
    series, truth, sanity_cases_at = _data(x, mask, layout, pad_value)
    sanity_series = _sanity_series(series, layout, sanity_cases_at[:sanity_cases])
    has_weights = not isinstance(adapt(model), BlackBoxModel)
    run_sanity = "not run"
    if sanity:
        run_sanity = "yes" if has_weights else "n/a (a black box has no weights to randomize)"
    given = [item for item in methods if isinstance(item, Explanation)]
    names_only = [get_method(item).name for item in methods if not isinstance(item, Explanation)]
    params = _method_params(params, names_only)
    sanity_target = target
    if target is not None and not callable(target) and np.ndim(target) == 1:
        sanity_target = np.asarray(target)[sanity_cases_at[:sanity_cases]]
    settings = Settings(baseline, granularity, n_steps, batch_size, seed, target)
    rows = []
    for item in [*names_only, *given]:
        if isinstance(item, Explanation):
            exp, seconds, checked = item, NAN, "n/a (a given map)"
        else:
            options = dict(params.get(item, {}))
            start = time.perf_counter()
            exp = explain(
                model,
                series,
                item,
                target=target,
                progress=False,
                seed=seed,
                batch_size=batch_size,
                layout=layout if isinstance(series, list) else "ncl",
                pad_value=pad_value,
                **options,
            )
            seconds = (time.perf_counter() - start) / len(series)
            checked = _sanity(
                model,
                sanity_series,
                item,
                sanity_target,
                {"seed": seed, "clone": clone, **options},
                run_sanity,
            )
        values, references, verdict = _faithfulness(model, exp, names, settings, rule)
        rows.append(
            MethodEvaluation(
                method=str(exp.method),
                seconds_per_case=seconds,
                deletion_auc=values.get("deletion", NAN),
                deletion_random_auc=references.get("deletion", NAN),
                insertion_auc=values.get("insertion", NAN),
                insertion_random_auc=references.get("insertion", NAN),
                sanity=checked,
                metrics=values,
                references=references,
                verdict=verdict,
                **_localization(exp, truth),
            )
        )
    columns = column_order((column for row in rows for column in row.metrics), names)
    return Evaluation(rows=tuple(rows), has_mask=truth is not None, metric_names=columns)
