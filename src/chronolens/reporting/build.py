"""``chronolens.report``: one self-contained HTML file that shows what a model looks at.

The file needs no network access and no other file: its script, styles, colour tables and
data are all inside it. It opens in any current browser, offline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chronolens._deprecation import renamed_keyword
from chronolens._validation import check_batch_size, check_bool, check_int
from chronolens.explanation import Explanation
from chronolens.reporting._counterfactual import counterfactual_section as cf_section
from chronolens.reporting._dataset import dataset_section, open_job
from chronolens.reporting._html import render
from chronolens.reporting._payload import build_payload
from chronolens.reporting._ragged import prepare
from chronolens.reporting._sections import optional_sections
from chronolens.series import Layout

__all__ = ["DEFAULT_METHODS", "report"]

#: Methods computed when ``methods`` is not given, in this order, if registered and usable.
#: A per-channel map leads, so the report's first screen says which channel, when; the
#: shared Grad-CAM map stays next to it.
DEFAULT_METHODS: tuple[str, ...] = (
    "channel_grad_cam",
    "grad_cam",
    "integrated_gradients",
    "saliency",
)


def _check_out(out: Any) -> Path:
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(
            f"`out` must be a file path (str or path-like); got {type(out).__name__}. "
            'Pass e.g. out="report.html".'
        )
    path = Path(out)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(
            f"`out` must name an .html file; got {os.fspath(out)!r}. Pass e.g. "
            f'out="{path.with_suffix(".html").name}".'
        )
    return path


def _check_names(names: Any, parameter: str, expected: int, what: str) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, (Sequence, np.ndarray)):
        raise TypeError(
            f"`{parameter}` must be a sequence of strings, one per {what}; got "
            f"{type(names).__name__}. Pass e.g. a list of {expected} names."
        )
    if len(names) != expected:
        raise ValueError(
            f"`{parameter}` has {len(names)} names for {expected} {what}"
            f"{'es' if what.endswith('s') else 's'}; pass exactly {expected}."
        )
    return tuple(str(name) for name in names)


def _method_list(
    methods: Any, model: Any, have_explanations: bool
) -> list[tuple[str, dict[str, Any]]]:
    """``methods`` as ``(name, params)`` pairs; the usable defaults when it is None."""
    from chronolens.registry import REGISTRY, get_method, usable_on

    if methods is None:
        if have_explanations:
            return []
        usable = usable_on(model)
        names = [name for name in DEFAULT_METHODS if name in usable]
        if not names:  # a black box: the first model-agnostic methods
            names = [name for name in usable if not REGISTRY[name].needs_layer][:3]
        if not names:
            raise ValueError(
                "`methods` is None and no registered method works on this model; pass "
                "`methods` explicitly (see chronolens.methods())."
            )
        return [(name, {}) for name in names]
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        pairs = list(methods.items())
    elif isinstance(methods, Sequence):
        pairs = [(name, {}) for name in methods]
    else:
        raise TypeError(
            f"`methods` must be a list of method names or a dict of name -> parameters; got "
            f"{type(methods).__name__}. Pass e.g. methods=['grad_cam', 'saliency']."
        )
    result = []
    for name, params in pairs:
        get_method(name)  # unknown names fail with suggestions
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise TypeError(
                f"`methods[{name!r}]` must be a dict of parameters; got "
                f"{type(params).__name__}. Pass e.g. {{{name!r}: {{}}}}."
            )
        result.append((name, dict(params)))
    if not result:
        raise ValueError("`methods` is empty; pass at least one method name.")
    return result


def _check_explanations(explanations: Any, series: np.ndarray) -> list[Explanation]:
    if explanations is None:
        return []
    if isinstance(explanations, Explanation):
        explanations = [explanations]
    if not isinstance(explanations, Sequence):
        raise TypeError(
            f"`explanations` must be a list of Explanation objects; got "
            f"{type(explanations).__name__}."
        )
    for index, exp in enumerate(explanations):
        if not isinstance(exp, Explanation):
            raise TypeError(
                f"`explanations[{index}]` must be a chronolens.Explanation; got "
                f"{type(exp).__name__}."
            )
        if exp.x.shape != series.shape or not np.allclose(exp.x, series, equal_nan=True):
            raise ValueError(
                f"`explanations[{index}]` ({exp.method}) explains other series than `x` "
                f"(its x has shape {exp.x.shape}, x has shape {series.shape}); pass the x it was "
                "computed on."
            )
    return list(explanations)


def _check_sanity(sanity: Any) -> frozenset[str] | None:
    """None for every method, else the set of method names to check (empty: none)."""
    if isinstance(sanity, bool):
        return None if sanity else frozenset()
    if isinstance(sanity, str) or not isinstance(sanity, Sequence):
        raise TypeError(
            f"`sanity` must be True, False or a list of method names; got {sanity!r}. Pass "
            "e.g. sanity=['grad_cam']."
        )
    from chronolens.registry import get_method

    return frozenset(get_method(name).name for name in sanity)


def _prototype_groups(
    wanted: bool, labels: np.ndarray | None, scores: np.ndarray
) -> np.ndarray | None:
    """Each case's class for the prototypes section (true if known), or None to skip it."""
    if not wanted:
        return None
    return labels if labels is not None else np.argmax(scores, axis=1)


def _check_labels(y: Any, n_cases: int, n_classes: int) -> np.ndarray | None:
    if y is None:
        return None
    labels = np.asarray(y)
    if labels.shape != (n_cases,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"`y` must hold one integer class per case, shape ({n_cases},); got an array of "
            f"shape {labels.shape} and dtype {labels.dtype}. Encode labels as 0..k-1."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"`y` holds classes from {labels.min()} to {labels.max()}, but the model has "
            f"{n_classes} outputs; expected values in 0..{n_classes - 1}."
        )
    return labels.astype(np.int64)


def _model_summary(model: Any, series: np.ndarray, scores: np.ndarray) -> list[list[str]]:
    kind = type(model)
    rows = [["model", f"{kind.__module__}.{kind.__qualname__}"]]
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        try:
            count = sum(int(p.numel()) for p in parameters())
            rows.append(["parameters", f"{count:,}"])
        except Exception:  # not torch-like: the count is only a courtesy
            pass
    n, c, t = series.shape
    rows.append(["input", f"{c} channels × {t} time points"])
    rows.append(["outputs", f"{scores.shape[1]} classes"])
    rows.append(["cases", str(n)])
    return rows


def _version() -> str:
    from chronolens._version import __version__

    return str(__version__)


@renamed_keyword("X", "x")
def report(
    model: Any,
    x: Any,
    *,
    y: Any = None,
    methods: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    class_names: Sequence[str] | None = None,
    channel_names: Sequence[str] | None = None,
    out: str | os.PathLike[str] = "report.html",
    explanations: Sequence[Explanation] | None = None,
    layout: Layout = "ncl",
    title: str | None = None,
    seed: int = 0,
    batch_size: int | str = "auto",
    max_points: int = 1000,
    metric_cases: int = 16,
    sanity: bool | Sequence[str] = True,
    prototypes: bool = True,
    progress: bool | None = None,
    pad_value: float | None = None,
    dataset: Any = None,
    counterfactual: Any = None,
) -> Path:
    """Write one self-contained HTML report of what ``model`` looks at in ``x``.

    The report explains every case with every method and shows: an overview (model summary;
    accuracy and confusion matrix when ``y`` is given; mean attribution per class and channel
    as a heat map; the time windows that matter most per class), a per-case view (every
    channel's series over a heat band of its attribution, one column per method, predicted and
    true class with probabilities, the methods' rank agreement on that case, navigation by
    buttons, a case list or the arrow keys), the mean agreement between methods, and, when the
    installed chronolens provides them, faithfulness curves with a random reference, the
    sanity-check verdict and class prototypes.

    The file is self-contained (no network request, scripts inline), deterministic (the same
    inputs and ``seed`` give identical bytes) and compact: series and maps are stored with 8
    bits per value in base64, about 1.4 bytes per stored value plus about 40 kB. The stored
    values are ``n_cases * n_points * (n_channels * (1 + m) + s)`` for ``m`` per-channel and
    ``s`` shared maps, ``n_points = min(n_timepoints, max_points)``; the documented bound is
    1.5 bytes per stored value plus 100 kB (e.g. 3.2 MB for 200 cases of 9 channels x 300
    points with 3 per-channel and 2 shared maps).

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
        The classifier; never modified.
    x : array-like of shape (n_cases, n_channels, n_timepoints), or list of arrays
        The series to explain (see ``layout``); never modified. A list of series of unequal
        lengths is padded at the end (see ``pad_value``).
    y : array-like of int of shape (n_cases,), optional
        True classes; adds accuracy, a confusion matrix and the true class of each case.
    methods : list of str or dict of str -> dict, optional
        Method names, or a dict mapping each name to its parameters. Default: those of
        :data:`DEFAULT_METHODS` that the model supports (no CAM for TorchScript modules, which
        have no hooks; the first three model-agnostic methods for black boxes), or none when
        ``explanations`` are given.
    class_names, channel_names : sequence of str, optional
        Names shown in the report (escaped; they render as text).
    out : str or path-like, default="report.html"
        The file to write; must end in ``.html`` or ``.htm``. Parent folders are created.
    explanations : list of Explanation, optional
        Explanations already computed on ``x``, shown next to those of ``methods``.
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of ``x``.
    title : str, optional
        Title of the page. Default: "chronolens report".
    seed : int, default=0
        Seed of randomised methods and of the random references of the metrics.
    batch_size : int or "auto", default="auto"
        Rows per model call, as in :func:`chronolens.explain`.
    max_points : int, default=1000
        Most points stored per series; longer series are pooled (series by mean, maps by their
        largest |value| per bin, so narrow peaks stay visible). Statistics use every point.
    metric_cases : int, default=16
        Number of first cases on which the faithfulness curves (deletion and insertion with
        their random references) and the model-randomization sanity check are computed, when
        the installed ``chronolens.metrics`` provides them; 0 leaves both out. They cost about
        80 model calls per case and method (curves) and one explanation per layer (sanity).
    sanity : bool or list of str, default=True
        Run the model-randomization sanity check for every method (True), none (False), or
        the listed methods only: it re-explains ``metric_cases`` cases once per layer, the most
        expensive part of a report for slow methods (Integrated Gradients, occlusion).
    prototypes : bool, default=True
        Add one class prototype per class (activation maximization, when the installed
        chronolens provides ``chronolens.maximize``; any model with gradients), drawn over
        the mean of the class's cases (true class when ``y`` is given, else predicted). With
        unequal lengths each class's prototype has its most common length.
    progress : bool or None, default=None
        Progress bars, as in :func:`chronolens.explain`.
    pad_value : float or None, default=None
        For unequal-length data (``x`` a list of ``(n_channels, t_i)`` series), as in
        :func:`chronolens.explain`: None explains each length at its own length; a number pads
        with it and runs the model on the padded series. The page draws the padding as absent.
    dataset : DatasetJob or path, optional
        A finished :func:`chronolens.explain_dataset` job (or its ``.zarr`` output): adds a
        "Whole dataset" section (per-class mean maps, per-channel importance with 95 %
        bootstrap intervals, the top windows across the dataset), read chunk by chunk.
    counterfactual : Counterfactual, dict of chronolens.counterfactual options, or True
        Adds a "Counterfactuals" section: see :mod:`chronolens.reporting._counterfactual`.

    Returns
    -------
    pathlib.Path
        The path of the written file.

    Raises
    ------
    ValueError, TypeError
        For bad input, each naming the parameter and the fix.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=3, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(6, 3, 40)).astype("float32")
    >>> path = cl.report(model, x, y=[0, 1, 0, 1, 0, 1], out="report.html")  # doctest: +SKIP
    """
    from chronolens._explain import explain
    from chronolens.registry import get_method

    path = _check_out(out)
    job = open_job(dataset)  # a missing or unfinished job fails before any work
    data, series = prepare(x, layout, pad_value)
    ragged: dict[str, Any] = (
        {"layout": layout, "pad_value": pad_value} if data is not series else {}
    )
    n, c, _ = series.shape
    if n == 0:
        raise ValueError("`x` holds no cases; pass at least one series.")
    seed = check_int(seed, "seed", minimum=0)
    max_points = check_int(max_points, "max_points", minimum=16)
    batch_size = check_batch_size(batch_size)
    metric_cases = check_int(metric_cases, "metric_cases", minimum=0)
    sanity_methods = _check_sanity(sanity)
    prototypes = check_bool(prototypes, "prototypes")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"`title` must be a string; got {type(title).__name__}.")
    channel_names = _check_names(channel_names, "channel_names", c, "channel")
    given = _check_explanations(explanations, series)
    computed = []
    for name, params in _method_list(methods, model, bool(given)):
        spec = get_method(name)
        merged = {**spec.report_params, **params}
        computed.append(
            explain(
                model,
                data,
                spec.name,
                **ragged,
                batch_size=batch_size,
                progress=progress,
                channel_names=channel_names,
                seed=merged.pop("seed", seed),
                **merged,
            )
        )
    all_explanations = given + computed
    if not all_explanations:
        raise ValueError("Nothing to report: pass `methods`, `explanations`, or neither.")
    scores = np.asarray(all_explanations[0].scores, dtype=np.float64)
    n_classes = scores.shape[1]
    class_names = _check_names(class_names, "class_names", n_classes, "class")
    if class_names is None:
        class_names = next((e.class_names for e in all_explanations if e.class_names), None)
    if channel_names is None:
        channel_names = next((e.channel_names for e in all_explanations if e.channel_names), None)
    labels = _check_labels(y, n, n_classes)

    payload = build_payload(
        all_explanations,
        labels=labels,
        class_names=class_names or tuple(f"class {k}" for k in range(n_classes)),
        channel_names=channel_names or tuple(f"channel {i}" for i in range(c)),
        model_rows=_model_summary(model, series, scores),
        max_points=max_points,
    )
    payload.update(
        optional_sections(
            model,
            all_explanations,
            seed=seed,
            metric_cases=metric_cases,
            sanity_methods=sanity_methods,
            prototype_groups=_prototype_groups(prototypes, labels, scores),
            max_points=max_points,
        )
    )
    payload["dataset"] = dataset_section(job, payload, max_points, seed)
    payload.update(cf_section(model, x, counterfactual, payload, labels, layout, ragged))
    title = title or "chronolens report"
    page = render(title, {"title": title, "version": _version(), **payload})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(page.encode("utf-8"))
    return path
