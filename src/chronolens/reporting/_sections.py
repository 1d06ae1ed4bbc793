"""Report sections that rely on optional parts of chronolens: metrics and prototypes.

Each section is looked up at run time (``hasattr``), so the report works with whatever the
installed chronolens provides: a section whose functions are missing is left out of the page
(its key in the data is None). The page's script draws a section whenever its key is set.

- ``faithfulness``: needs ``chronolens.metrics.deletion`` and ``insertion``; each method's
  verdict (:func:`chronolens.metrics.evaluation.judge` on ``REPORT_METRICS``): better or worse
  than random only where metrics built on different interventions agree.
- ``sanity``: needs ``chronolens.metrics.model_randomization``; on a black box (no weights to
  re-draw) the section says so instead of a verdict.
- ``prototypes``: needs ``chronolens.maximize``; on a black box (no gradients) the section says
  so instead of prototypes.
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from chronolens.explanation import Explanation
from chronolens.reporting import _stats as stats
from chronolens.reporting._ragged import cut, one_length


def _available(module: str, *names: str) -> Any:
    """The module if it defines every name, else None."""
    try:
        loaded = importlib.import_module(module)
    except ImportError:
        return None
    return loaded if all(hasattr(loaded, name) for name in names) else None


def _mean_curve(scores: np.ndarray) -> list[float | None]:
    return stats.rounded_list(np.nanmean(np.asarray(scores, dtype=np.float64), axis=0))


def faithfulness(model: Any, explanations: Sequence[Explanation], seed: int, cases: int) -> Any:
    """Deletion and insertion curves on the first ``cases`` cases, per method, or None."""
    metrics = _available("chronolens.metrics", "deletion", "insertion")
    if metrics is None:
        return None
    panels, table = [], []
    n = min(cases, explanations[0].n_cases)
    for exp in explanations:
        if exp.target is None:
            continue  # a callable target: the curves need a class to score
        exp = exp[:n]
        deleted = metrics.deletion(model, exp, seed=seed)
        inserted = metrics.insertion(model, exp, seed=seed)
        fractions = stats.rounded_list(deleted.fractions)
        panels.append(
            {
                "title": _label(exp),
                "xLabel": "fraction of features replaced (deletion) / restored (insertion)",
                "yLabel": "score of the explained class",
                "note": f"Mean over the first {n} cases; baseline {deleted.baseline!r}, "
                f"{deleted.granularity}s. A faithful map drops faster than random on deletion "
                "and rises faster on insertion.",
                "curves": [
                    _curve("deletion", fractions, deleted.scores, deleted.mean_auc),
                    _curve("insertion", fractions, inserted.scores, inserted.mean_auc),
                    _curve("deletion, random", fractions, deleted.random_scores, None, True),
                    _curve("insertion, random", fractions, inserted.random_scores, None, True),
                ],
            }
        )
        table.append(
            {
                "label": _label(exp),
                "deletion": stats.rounded(deleted.mean_auc),
                "deletionRandom": stats.rounded(deleted.mean_random_auc),
                "insertion": stats.rounded(inserted.mean_auc),
                "insertionRandom": stats.rounded(inserted.mean_random_auc),
                **_verdict(model, exp, seed),
                **_baseline_agreement(model, exp, seed),
            }
        )
    return {"curves": panels, "table": table, "cases": n} if panels else None


REPORT_METRICS = ("deletion", "insertion", "deletion_linear", "road", "aopcr")


def _baseline_agreement(model: Any, exp: Explanation, seed: int) -> dict[str, Any]:
    """Mean rank agreement of the map re-run under other baselines (baseline methods only)."""
    from chronolens.registry import REGISTRY
    from chronolens.sensitivity import baseline_sensitivity

    spec = REGISTRY.get(exp.method)
    if spec is None or "baseline" not in spec.parameters:
        return {"baselineAgreement": None, "baselineNote": "the method takes no baseline"}
    params = {k: v for k, v in exp.params.items() if k not in ("baseline", "seed")}
    try:
        result = baseline_sensitivity(
            model, exp.x, exp.method, target=exp.target, seed=seed, progress=False, **params
        )
    except (ValueError, TypeError) as error:  # e.g. an array parameter of another shape
        return {"baselineAgreement": None, "baselineNote": f"not computed: {error}"}
    return {
        "baselineAgreement": stats.rounded(float(np.nanmean(result.agreement))),
        "baselineNote": "baselines " + ", ".join(result.baselines),
    }


def _verdict(model: Any, exp: Explanation, seed: int) -> dict[str, Any]:
    """The verdict that survives the choice of metric, and what each metric said."""
    from chronolens.metrics.evaluation import judge

    judged = judge(model, exp, metrics=REPORT_METRICS, seed=seed)
    verdict = judged.verdict
    assert verdict is not None
    calls = [
        {
            "metric": call.metric,
            "intervention": call.intervention,
            "value": stats.rounded(judged.metrics[call.metric]),
            "random": stats.rounded(judged.references[call.metric]),
            "call": call.call,
        }
        for call in verdict.calls
    ]
    return {"verdict": verdict.label, "detail": verdict.detail, "calls": calls}


def _curve(
    label: str, fractions: list, scores: np.ndarray, auc: float | None, reference: bool = False
) -> dict[str, Any]:
    return {
        "label": label + ("" if auc is None else ", AUC"),
        "x": fractions,
        "y": _mean_curve(scores),
        "score": None if auc is None else stats.rounded(auc),
        "reference": reference,
    }


def _label(exp: Explanation) -> str:
    return f"{exp.method} ({exp.extras['layer']})" if "layer" in exp.extras else str(exp.method)


def sanity(
    model: Any, explanations: Sequence[Explanation], seed: int, cases: int, only: Any
) -> Any:
    """The model-randomization verdict per method on the first cases, or None.

    ``only`` is None (every method) or a collection of the method names to test.
    """
    metrics = _available("chronolens.metrics", "model_randomization")
    if metrics is None:
        return None
    skipped = _sanity_skipped(model, explanations[0].x)
    if skipped is not None:
        return {"rows": [], "note": skipped}
    rows = []
    for exp in explanations:
        if exp.target is None:
            continue
        from chronolens.registry import REGISTRY

        if exp.method not in REGISTRY or (only is not None and exp.method not in only):
            continue
        params = {key: value for key, value in exp.params.items() if key != "seed"}
        chosen, length = one_length(exp, np.arange(min(cases, exp.n_cases)))
        try:
            result = metrics.model_randomization(
                model,
                cut(exp.x[chosen], length),
                exp.method,
                target=np.asarray(exp.target)[chosen],
                seed=seed,
                **params,
            )
        except metrics.UncopyableModelError as error:
            reason = str(error).split(". Pass")[0]
            return {"rows": [], "note": f"Not run: {reason}."}
        value = float(np.abs(result.mean_absolute[-1]))
        if result.randomization != "cascading":
            value = float(np.abs(result.mean_absolute).mean())
        rows.append(
            {
                "label": _label(exp),
                "value": stats.rounded(value),
                "passed": bool(result.passed),
                "verdict": "passed: the map changes with the model"
                if result.passed
                else "failed: the map barely depends on the model's weights",
            }
        )
    if not rows:
        return None
    n = min(cases, explanations[0].n_cases)
    chosen, length = one_length(explanations[0], np.arange(n))
    which = (
        f"the first {n} cases"
        if length is None
        else (
            f"the {chosen.size} of the first {n} cases that have {length} points (the sanity check "
            "runs at one length)"
        )
    )
    return {
        "rows": rows,
        "note": f"Model-parameter randomization (Adebayo et al., 2018) on {which}: "
        "the layers of a copy of the model are re-initialised from the output down and the "
        "method is run again. The number is the mean |Spearman correlation| between the "
        "original and the fully randomized maps; the test passes below "
        f"{result.threshold:g}.",
    }


def _sanity_skipped(model: Any, x: np.ndarray) -> str | None:
    """Why the randomization test cannot run on this model, or None when it can."""
    import torch

    from chronolens.models import adapt
    from chronolens.models.base import CapabilityError

    try:
        adapt(model).weight_layers(torch.from_numpy(np.ascontiguousarray(x[:1])))
    except CapabilityError:
        return (
            "Not run: the model-randomization test re-draws the model's weights, and this "
            "model is explained through its predictions only. Pass the PyTorch or Keras model "
            "itself to get it."
        )
    return None


PROTOTYPE_REFERENCES = 8  # real cases per class passed to maximize() as its reference
PROTOTYPE_RESTARTS = 2  # maximize() starts per class; the best is shown
PROTOTYPE_STEPS = 100  # optimisation steps per class


def prototypes(
    model: Any, explanations: Sequence[Explanation], groups: np.ndarray, seed: int, max_points: int
) -> Any:
    """One activation-maximization prototype per class, next to the class mean, or None.

    ``groups`` gives each case's class (the true class when known, else the predicted one);
    the prototype's reference data (value ranges, standardisation, nearest real case) are the
    first cases of its class.
    """
    from chronolens.inspection.maximization import maximize
    from chronolens.models import adapt

    if not adapt(model).differentiable:
        return {
            "classes": [],
            "note": "Not drawn: activation maximization follows the gradient of the class "
            "score, and this model is explained through its predictions only. Pass the "
            "PyTorch or Keras model itself to get one prototype per class.",
        }
    x = np.asarray(explanations[0].x, dtype=np.float64)
    factor = stats.pool_factor(x.shape[2], max_points)
    items = []
    for klass in range(int(explanations[0].scores.shape[1])):
        members, length = one_length(explanations[0], np.flatnonzero(groups == klass))
        members = members[:PROTOTYPE_REFERENCES]
        if members.size == 0:
            continue
        reference = cut(x[members], length)
        result = maximize(
            model,
            klass,
            reference=reference.astype(np.float32),
            seed=seed,
            n_restarts=PROTOTYPE_RESTARTS,
            n_steps=PROTOTYPE_STEPS,
        )
        best = np.asarray(result.prototypes[0], dtype=np.float64)
        mean = reference.mean(axis=0)
        pair = stats.pool(np.stack([best, mean]), factor, peak=False)
        low = pair.min(axis=(0, 2), keepdims=True)
        span = np.maximum(pair.max(axis=(0, 2), keepdims=True) - low, 1e-12)
        codes = np.rint((pair - low) / span * 254).astype(np.uint8)
        predicted = None if result.predicted is None else int(result.predicted[0])
        items.append(
            {
                "klass": klass,
                "points": int(pair.shape[2]),
                "data": base64.b64encode(codes.tobytes()).decode("ascii"),
                "predicted": predicted,
                "score": stats.rounded(float(result.target_value[0])),
                "nearest": None if result.nearest is None else int(members[result.nearest[0]]),
            }
        )
    if not items:
        return None
    return {
        "classes": items,
        "note": "Blue: a series optimised to maximise the class score (activation "
        "maximization with smoothness penalties, chronolens.maximize). Grey: the mean of "
        f"the class's first {PROTOTYPE_REFERENCES} cases, which set its value ranges. Both "
        "share each channel's scale.",
    }


def optional_sections(
    model: Any,
    explanations: Sequence[Explanation],
    *,
    seed: int,
    metric_cases: int,
    sanity_methods: Any,
    prototype_groups: np.ndarray | None,
    max_points: int,
) -> dict[str, Any]:
    """The optional sections' data; a missing or switched-off section is None.

    ``metric_cases=0`` switches the metrics off; ``sanity_methods`` is None (every method),
    a collection of method names, or empty (no sanity check); ``prototype_groups`` (each
    case's class) is None to leave the prototypes out.
    """
    run = metric_cases > 0
    check = run and (sanity_methods is None or len(sanity_methods) > 0)
    return {
        "faithfulness": faithfulness(model, explanations, seed, metric_cases) if run else None,
        "sanity": sanity(model, explanations, seed, metric_cases, sanity_methods)
        if check
        else None,
        "prototypes": None
        if prototype_groups is None
        else prototypes(model, explanations, prototype_groups, seed, max_points),
    }
