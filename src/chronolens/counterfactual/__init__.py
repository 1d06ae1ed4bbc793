"""Counterfactual explanations: what a series would have to look like to be classed otherwise.

>>> import chronolens as cl
>>> cf = cl.counterfactual(model, x, reference=(x_train, y_train))  # doctest: +SKIP
>>> cf.new_class, cf.validity, cf.l1  # doctest: +SKIP
>>> cf.plot(0)  # doctest: +SKIP

Two methods, both model-agnostic (they only call the model's forward pass):

- ``"native_guide"`` (:mod:`chronolens.counterfactual.native_guide`): the smallest contiguous
  window copied from the nearest unlike neighbour.
- ``"comte"`` (:mod:`chronolens.counterfactual.comte`): the fewest whole channels swapped in
  from a distractor of the target class.

``chronolens.counterfactual`` is both this package and its function: the package object is
callable (``cl.counterfactual(model, x, ...)`` runs :func:`counterfactual`), so the name works
whichever was loaded first.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from chronolens._validation import check_choice, check_int
from chronolens.counterfactual._distances import choose_distance, proximity
from chronolens.counterfactual._inputs import check_reference, check_targets, reference_labels
from chronolens.counterfactual._scoring import Scorer, as_probabilities
from chronolens.counterfactual.comte import MAX_EXHAUSTIVE_CHANNELS, comte
from chronolens.counterfactual.native_guide import native_guide
from chronolens.counterfactual.result import Counterfactual
from chronolens.series import Layout, as_series

__all__ = ["METHODS", "Counterfactual", "counterfactual"]

METHODS = ("native_guide", "comte")


def _check_options(method: str, options: dict[str, Any], n_channels: int) -> dict[str, Any]:
    """The method's own parameters, checked; the other method's are refused by name."""
    own = {
        "native_guide": {"distance", "relevance", "relevance_params", "window", "max_length"},
        "comte": {"search", "n_distractors", "seed"},
    }[method]
    other = set(options) - own
    if other:
        raise TypeError(
            f"counterfactual(method={method!r}) takes no {sorted(other)}; its parameters are "
            f"{sorted(own)}."
        )
    if method == "comte":
        if n_channels < 2:
            raise ValueError(
                "method='comte' swaps whole channels and needs several; `x` has one channel. "
                "Use method='native_guide' for single-channel series."
            )
        search = check_choice(
            options.get("search", "greedy"), "search", ("greedy", "optimized", "exhaustive")
        )
        if search == "exhaustive" and n_channels > MAX_EXHAUSTIVE_CHANNELS:
            raise ValueError(
                f"search='exhaustive' tries every channel set and allows up to "
                f"{MAX_EXHAUSTIVE_CHANNELS} channels; `x` has {n_channels}. Use search='greedy'."
            )
        count = check_int(options.get("n_distractors", 2), "n_distractors", minimum=1)
        seed = check_int(options.get("seed", 0), "seed", minimum=0)
        return {"search": search, "n_distractors": count, "seed": seed}
    params = options.get("relevance_params") or {}
    if not isinstance(params, Mapping):
        raise TypeError(f"`relevance_params` must be a dict; got {type(params).__name__}.")
    relevance = options.get("relevance")
    if relevance is not None and not isinstance(relevance, str):
        raise TypeError(f"`relevance` must be a method name or None; got {relevance!r}.")
    max_length = options.get("max_length")
    return {
        "distance": check_choice(
            options.get("distance", "auto"), "distance", ("auto", "dtw", "euclidean")
        ),
        "relevance": relevance,
        "relevance_params": dict(params),
        "window": check_choice(options.get("window", "all"), "window", ("all", "one")),
        "max_length": (
            None if max_length is None else check_int(max_length, "max_length", minimum=1)
        ),
    }


def _check_classes(
    method: str, original: np.ndarray, target: np.ndarray, labels: np.ndarray, given: bool
) -> None:
    """Every case needs a reference case of another class (of its target class, if given)."""
    source = "y_ref" if given else "the model's predictions on `reference`"
    for i in range(len(original)):
        if target[i] >= 0 and target[i] == original[i]:
            raise ValueError(
                f"`target_class` {int(target[i])} is case {i}'s predicted class already; pass "
                "another class, or None for any other class."
            )
        wanted = labels == target[i] if target[i] >= 0 else labels != original[i]
        if not wanted.any():
            what = f"class {int(target[i])}" if target[i] >= 0 else "another class"
            extra = " that the model also classes as such" if method == "comte" else ""
            raise ValueError(
                f"`reference` holds no case of {what}{extra} (by {source}) for case {i}, "
                f"predicted {int(original[i])}; pass reference data with cases of every class."
            )


def _assemble(
    method: str, x: np.ndarray, found: dict[str, Any], scorer: Scorer, extra: dict[str, Any]
) -> Counterfactual:
    cf = found["counterfactual"]
    scores = scorer.scores(cf)
    probabilities = as_probabilities(scores)
    new_class = probabilities.argmax(axis=1)
    rows = np.arange(len(x))
    changed = cf != x
    n = len(x)
    return Counterfactual(
        original=x,
        counterfactual=cf,
        changed=changed,
        original_class=extra["original"],
        target_class=extra["target"],
        new_class=new_class,
        new_probability=probabilities[rows, new_class],
        new_score=scores[rows, new_class],
        validity=np.where(
            extra["target"] >= 0, new_class == extra["target"], new_class != extra["original"]
        ),
        sparsity=changed.mean(axis=(1, 2)),
        reference_index=found["reference_index"],
        window_start=found.get("window_start", np.full(n, -1, dtype=np.int64)),
        window_length=found.get("window_length", np.full(n, -1, dtype=np.int64)),
        notes=tuple(found["notes"]),
        method=method,
        params={**found["params"], "batch_size": scorer.batch_size, "model_calls": scorer.calls},
        layout=extra["layout"],
        **proximity(x, cf),
    )


def counterfactual(
    model: Any,
    x: Any,
    target_class: Any = None,
    *,
    method: str = "native_guide",
    reference: Any = None,
    layout: Layout = "ncl",
    batch_size: int = 128,
    **options: Any,
) -> Counterfactual:
    """Each case changed, as little as the method can, to be classed otherwise.

    Parameters
    ----------
    model : torch.nn.Module, Keras model, callable or chronolens.models.Model
        A classifier returning class scores (logits or probabilities); only its forward pass is
        called (and, for Native Guide's default relevance map, a CAM). Never modified.
    x : array-like of shape (n_cases, n_channels, n_timepoints) or (n_channels, n_timepoints)
        The series to explain (see ``layout``); never modified.
    target_class : None, int or sequence of int, default=None
        The class to reach, for every case or one per case. None: any class other than the
        predicted one (Native Guide: the class of the nearest unlike neighbour; CoMTE: the
        second most probable class, as CoMTE does).
    method : {"native_guide", "comte"}, default="native_guide"
        Native Guide copies the smallest contiguous window from the nearest unlike neighbour;
        CoMTE swaps in the fewest whole channels from a distractor (needs several channels).
    reference : (X_ref, y_ref) or X_ref
        Cases to draw counterfactuals from, with their labels (the model's predictions when
        only X_ref is given), e.g. the training set; same layout and shape per case as ``x``.
        CoMTE keeps the cases the model classes as labelled.
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of ``x`` and ``reference``. The result's arrays are (n, c, t).
    batch_size : int, default=128
        Most rows per model call.
    **options
        Native Guide: ``distance`` ("auto": DTW when the reference is small enough,
        :data:`~chronolens.counterfactual._distances.DTW_BUDGET`, else Euclidean; "dtw";
        "euclidean"), ``relevance`` (a chronolens method name for the NUN's relevance map;
        default the first of "cam", "grad_cam", "occlusion" the model allows),
        ``relevance_params`` (its parameters), ``window`` ("all": the window spans every
        channel; "one": one channel, chosen by a per-channel map, default "channel_grad_cam"
        else "occlusion"), ``max_length`` (longest window, default the series).
        CoMTE: ``search`` ("greedy", CoMTE's brute-force search; "optimized", CoMTE's random
        hill climb, seeded by ``seed``, default 0; "exhaustive": a proven fewest channels, up
        to 12 channels) and ``n_distractors`` (default 2).

    Returns
    -------
    Counterfactual
        Per case: the counterfactual, the changed points, the classes, validity, proximity
        (L1, L2, DTW) and sparsity; ``params`` records what ran (e.g. the distance chosen).

    Raises
    ------
    ValueError, TypeError
        For bad input, naming the parameter and the fix.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> def model(x):  # a black box: class 1 when channel 0 is high on points 10..19
    ...     p = 1 / (1 + np.exp(-8 * (x[:, 0, 10:20].mean(axis=1) - 0.5)))
    ...     return np.stack([1 - p, p], axis=1)
    >>> x = np.zeros((1, 2, 40), dtype="float32")
    >>> ref = np.zeros((2, 2, 40), dtype="float32"); ref[1, 0, 5:25] = 1.0
    >>> cf = cl.counterfactual(model, x, reference=ref, relevance="occlusion")
    >>> bool(cf.validity[0]), int(cf.new_class[0])
    (True, 1)
    """
    from chronolens.models import adapt

    method = check_choice(method, "method", METHODS)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    series = as_series(x, layout)
    settings = _check_options(method, options, series.shape[1])
    ref_x, y_ref = check_reference(reference, layout, series.shape)
    scorer = Scorer(adapt(model), batch_size)
    with scorer.model.session():  # eval mode throughout; everything restored after
        return _run(method, scorer, series, target_class, (ref_x, y_ref), settings, layout)


def _run(
    method: str,
    scorer: Scorer,
    series: np.ndarray,
    target_class: Any,
    reference: tuple[np.ndarray, np.ndarray | None],
    settings: dict[str, Any],
    layout: str,
) -> Counterfactual:
    ref_x, y_ref = reference
    probabilities = scorer.probabilities(np.concatenate([series, ref_x]))
    original = probabilities[: len(series)].argmax(axis=1)
    predicted_ref = probabilities[len(series) :].argmax(axis=1)
    n_classes = probabilities.shape[1]
    labels = reference_labels(y_ref, predicted_ref, n_classes)
    target = check_targets(target_class, len(series), n_classes)
    if method == "comte":
        if target_class is None:  # CoMTE's default: the second most probable class
            target = np.argsort(-probabilities[: len(series)], axis=1, kind="stable")[:, 1]
        labels = np.where(labels == predicted_ref, labels, -1)
    _check_classes(method, original, target, labels, y_ref is not None)
    if method == "comte":
        found = comte(scorer, series, target, (ref_x, labels), **settings)
    else:
        settings["distance"] = choose_distance(settings["distance"], len(ref_x), series.shape[2])
        found = native_guide(scorer, series, original, target, (ref_x, labels), **settings)
    extra = {"original": original, "target": target, "layout": layout}
    return _assemble(method, series, found, scorer, extra)


class _CallablePackage(types.ModuleType):
    """The package, callable as :func:`counterfactual`.

    ``import chronolens.counterfactual`` binds the package to ``chronolens.counterfactual``,
    where users call the function.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Counterfactual:
        return counterfactual(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
