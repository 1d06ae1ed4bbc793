"""The metrics :func:`chronolens.metrics.evaluate` can run, each with its intervention.

A metric here is one function of ``(model, explanation, settings)`` that returns one or more
*columns*, each a :class:`Measured`: its per-case value (the number a user reads, e.g. a
deletion AUC), the per-case value of its random reference where it has one, and the per-case
improvement over that reference (positive = better than random) from which :mod:`._verdict`
makes its call. The ``intervention`` says what the metric does to the series: metrics on the
same intervention are fooled by the same artefacts, so they count once towards a verdict.

References that are not built into a metric (CPD, CPP, infidelity) are the same metric on a
random map of the explanation's shape (seeded Gaussian draws). Those three read the map's
magnitude only (CPD and CPP rank by absolute value and sum absolute changes; normalized
infidelity fits the map's scale with either sign): ``reads_sign=False``. On a signed map they
judge ``|map|``, another map, so their calls are shown but not counted in its verdict.
"""

from __future__ import annotations

import dataclasses
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
    """One column on one method: per-case values, reference and improvement (NaN: none)."""

    value: np.ndarray
    reference: np.ndarray
    improvement: np.ndarray
    intervention: str
    reads_sign: bool = True


Run = Callable[[Any, Explanation, Settings], dict[str, Measured]]


@dataclass(frozen=True)
class MetricEntry:
    """A metric :func:`evaluate` can run: its columns and what each one answers."""

    name: str
    questions: dict[str, str]
    run: Run


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _versus(
    value: np.ndarray, reference: np.ndarray, higher: bool, what: str, signed: bool = True
) -> Measured:
    sign = 1.0 if higher else -1.0
    return Measured(value, reference, sign * (value - reference), what, signed)


def random_map(exp: Explanation, seed: int) -> Explanation:
    """A map of ``exp``'s shape drawn from a standard normal (NaN where ``exp`` has padding)."""
    draws = np.random.default_rng([seed, 7]).standard_normal(exp.attributions.shape)
    draws[np.isnan(exp.attributions)] = np.nan
    return dataclasses.replace(exp, attributions=draws.astype(np.float32), method="random")


def _removal(imputation: str) -> str:
    return {"linear": "impute linearly", "noisy_linear": "impute linearly with noise"}.get(
        imputation, imputation
    )


def _curve(kind: str, imputation: str | None = None, **fixed: Any) -> Run:
    """Deletion or insertion: the map's AUC against the point and the block references."""

    def run(model: Any, exp: Explanation, s: Settings) -> dict[str, Measured]:
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
        if imputation is not None:
            options.update(imputation=imputation, granularity="point")
        curve = (deletion if kind == "deletion" else insertion)(model, exp, **options)
        where = f"{curve.granularity}s" if curve.granularity == "window" else "points"
        what = f"replace {where} with {curve.baseline}"
        if imputation is not None:
            what = _removal(imputation)
        name = kind if imputation is None else f"{kind}_{imputation}"
        name = name if "granularity" not in fixed else f"{kind}_window"
        higher = kind == "insertion"
        columns = {name: _versus(curve.auc, curve.random_auc, higher, what)}
        if curve.reference != "point":  # else the block reference is the point one
            columns[f"{name}_block"] = _versus(curve.auc, curve.block_random_auc, higher, what)
        return columns

    return run


def _road(model: Any, exp: Explanation, s: Settings) -> dict[str, Measured]:
    """ROAD's MoRF and LeRF (noisy linear imputation), each against the random order."""
    from chronolens.metrics.road import road

    n = exp.n_cases
    morf, lerf, rand = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for index, part in exp.by_length():  # unequal lengths: each length at its own length
        target = s.target
        if target is not None and not callable(target) and np.ndim(target) == 1:
            target = np.asarray(target)[index]
        result = road(model, part, target=target, batch_size=s.batch_size, seed=s.seed)
        morf[index], lerf[index], rand[index] = result.morf_auc, result.lerf_auc, result.random_auc
    what = "impute linearly with noise (ROAD)"
    return {
        "road_morf": _versus(morf, rand, False, what),
        "road_lerf": _versus(lerf, rand, True, what),
    }


def _aopcr(model: Any, exp: Explanation, s: Settings) -> dict[str, Measured]:
    """MILLET's AOPCR: time steps removed (the series shortened), against random orders.

    A model that only takes its training length is scored with the steps replaced by zeros
    instead (``mode="mask"``), which is the same intervention as deletion with zeros.
    """
    from chronolens.metrics.millet import aopcr

    if exp.lengths is not None:
        return {"aopcr": Measured(*(_nan(exp.n_cases),) * 3, "remove time steps")}
    batch = 64 if s.batch_size == "auto" else int(s.batch_size)
    options: dict[str, Any] = {"seed": s.seed, "batch_size": batch}
    what = "remove time steps"
    try:
        values = aopcr(model, exp.x, exp, **options)
    except ValueError as error:
        if "mode='mask'" not in str(error):
            raise
        options["mode"], what = "mask", "replace points with zeros"
        values = aopcr(model, exp.x, exp, **options)
    columns = {"aopcr": Measured(values, _nan(len(values)), values, what)}
    matched = aopcr(model, exp.x, exp, reference="matched", **options)
    if not np.array_equal(matched, values):  # else the map has no runs: the same draws
        columns["aopcr_block"] = Measured(matched, _nan(len(values)), matched, what)
    return columns


def _function(name: str) -> Callable[..., Any]:
    """m17's metric of that name (imported from its own module)."""
    from chronolens.metrics.cumulative import cpd, cpp
    from chronolens.metrics.robustness import max_sensitivity
    from chronolens.metrics.stability import stability

    functions: dict[str, Callable[..., Any]] = {
        "cpd": cpd,
        "cpp": cpp,
        "max_sensitivity": max_sensitivity,
        "stability": stability,
    }
    return functions[name]


def _against_random_map(name: str, higher: bool, what: str, **options: Any) -> Run:
    """A metric of m17's (per-case values) next to its value on a random map."""

    def run(model: Any, exp: Explanation, s: Settings) -> dict[str, Measured]:
        function = _function(name)
        common = {"target": s.target, "batch_size": s.batch_size, "seed": s.seed, **options}
        value = np.asarray(function(model, exp, **common), dtype=np.float64)
        reference = np.asarray(function(model, random_map(exp, s.seed), **common), np.float64)
        return {name: _versus(value, reference, higher, what, signed=False)}

    return run


def _infidelity(model: Any, exp: Explanation, s: Settings) -> dict[str, Measured]:
    """Normalized infidelity, the better of Captum's two readings of a map, vs a random map.

    A gradient-like map is exact for ``multiply_by_inputs=False``, a contribution map
    (``x * gradient``, Integrated Gradients) for ``True``; the metric does not know which the
    method makes, so each case keeps the lower of the two, for the map and the random map alike.
    """
    from chronolens.metrics.robustness import infidelity

    common: dict[str, Any] = {
        "target": s.target,
        "batch_size": s.batch_size,
        "seed": s.seed,
        "normalize": True,
    }

    def best(map_: Explanation) -> np.ndarray:
        readings = [infidelity(model, map_, multiply_by_inputs=m, **common) for m in (False, True)]
        return np.fmin(*(np.asarray(r, dtype=np.float64) for r in readings))

    value, reference = best(exp), best(random_map(exp, s.seed))
    return {"infidelity": _versus(value, reference, False, "add Gaussian noise", signed=False)}


def _alone(name: str, what: str) -> Run:
    """A metric of the method's robustness (no random reference: a column, never a call)."""

    def run(model: Any, exp: Explanation, s: Settings) -> dict[str, Measured]:
        function = _function(name)
        value = np.asarray(
            function(model, exp, target=s.target, batch_size=s.batch_size, seed=s.seed), float
        )
        return {name: Measured(value, _nan(len(value)), _nan(len(value)), what)}

    return run


_BLOCK = " `_block`: against random runs of the map's own block sizes instead of random points."
METRICS: dict[str, MetricEntry] = {
    entry.name: entry
    for entry in (
        MetricEntry(
            "deletion",
            {
                "deletion": "Does the score fall faster than under a random order when the "
                "map's top points are replaced with `baseline`? (AUC, lower is better)" + _BLOCK
            },
            _curve("deletion"),
        ),
        MetricEntry(
            "insertion",
            {
                "insertion": "Does the score come back faster than under a random order when "
                "the map's top points are restored into a series of `baseline`? (AUC, higher "
                "is better)" + _BLOCK
            },
            _curve("insertion"),
        ),
        MetricEntry(
            "deletion_linear",
            {
                "deletion_linear": "Deletion with the removed points interpolated from the "
                "kept ones (no off-data zeros). (AUC, lower is better)" + _BLOCK
            },
            _curve("deletion", "linear"),
        ),
        MetricEntry(
            "insertion_linear",
            {
                "insertion_linear": "Insertion into a series interpolated through the "
                "restored points. (AUC, higher is better)" + _BLOCK
            },
            _curve("insertion", "linear"),
        ),
        MetricEntry(
            "deletion_window",
            {
                "deletion_window": "Deletion of contiguous windows replaced by their own mean "
                "(no scattered points). (AUC, lower is better)" + _BLOCK
            },
            _curve("deletion", granularity="window", baseline="local_mean"),
        ),
        MetricEntry(
            "road",
            {
                "road_morf": "ROAD MoRF: does removing (noisy linear imputation) the most "
                "relevant points first hurt more than a random order? (AUC, lower is better)",
                "road_lerf": "ROAD LeRF: does removing the least relevant points first hurt "
                "less than a random order? (AUC, higher is better)",
            },
            _road,
        ),
        MetricEntry(
            "aopcr",
            {
                "aopcr": "MILLET's AOPCR: does the predicted logit fall faster than under "
                "random orders when the map's top time steps are removed from the series? "
                "(higher is better, 0 is random; zeros written instead for fixed-length models)."
                " `aopcr_block`: against random runs of the map's own block sizes (MILLET's "
                "reference draws scattered steps)"
            },
            _aopcr,
        ),
        MetricEntry(
            "cpd",
            {
                "cpd": "TIMING's CPD: does the output move more, step by step, as the top "
                "points are zeroed than for a random map? (higher is better)"
            },
            _against_random_map("cpd", True, "replace points with zeros", n_points=20),
        ),
        MetricEntry(
            "cpp",
            {
                "cpp": "TIMING's CPP: does the output stay stiller as the least relevant "
                "points are zeroed than for a random map? (lower is better)"
            },
            _against_random_map("cpp", False, "replace points with zeros", n_points=20),
        ),
        MetricEntry(
            "infidelity",
            {
                "infidelity": "Infidelity (normalized; per case the better of the map as it is "
                "and multiplied by the input): does the map predict what small Gaussian noise "
                "does to the score better than a random map? (lower is better)"
            },
            _infidelity,
        ),
        MetricEntry(
            "max_sensitivity",
            {
                "max_sensitivity": "Max-sensitivity: how much does the map change when the "
                "input barely moves? (lower is better; robustness, not faithfulness: no call)"
            },
            _alone("max_sensitivity", "re-run on a nearby input"),
        ),
        MetricEntry(
            "stability",
            {
                "stability": "Stability: rank agreement of the map with itself re-computed on "
                "noisy copies (higher is better; robustness, not faithfulness: no call)"
            },
            _alone("stability", "re-run on a noisy input"),
        ),
    )
}

DEFAULT_METRICS: tuple[str, ...] = (
    "deletion",
    "insertion",
    "deletion_linear",
    "insertion_linear",
    "road",
    "aopcr",
    "cpd",
    "cpp",
    "infidelity",
)


def _entry(column: str) -> tuple[str, str]:
    """The metric that makes a column, and the column's question."""
    for entry in METRICS.values():
        for name, text in entry.questions.items():
            if column in (name, f"{name}_block"):
                return entry.name, text
    raise KeyError(column)


def question(column: str) -> str:
    """What a column answers."""
    return _entry(column)[1]


def column_order(columns: Any, names: tuple[str, ...]) -> tuple[str, ...]:
    """``columns`` in the order of their metrics in ``names``, each block one after its own."""
    unique = list(dict.fromkeys(columns))
    position = {column: index for index, column in enumerate(unique)}

    def key(column: str) -> tuple[int, int, bool]:
        base = column.removesuffix("_block")
        own = position.get(base, position[column])
        return (names.index(_entry(column)[0]), own, column != base)

    return tuple(sorted(unique, key=key))


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
