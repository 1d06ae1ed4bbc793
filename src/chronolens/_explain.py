"""``explain()``: validation, adaptation, batching and progress around a bound method."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from chronolens._batching import resolve_batch_size
from chronolens._binding import BoundMethod, bind
from chronolens._input_check import first_output_of, reraise_clearly
from chronolens._lengths import groups, hold_padding, is_ragged, merge_runs, nan_padding, pad_series
from chronolens._progress import Progress
from chronolens._validation import check_batch_size, check_choice, resolve_seed
from chronolens.attribution._common import model_output
from chronolens.attribution._result import MethodResult
from chronolens.explanation import Explanation
from chronolens.models import adapt
from chronolens.models._sequence_inputs import takes_lengths
from chronolens.models.base import Model
from chronolens.registry import get_method
from chronolens.series import LAYOUTS, Layout, as_series
from chronolens.targets import Target, TargetLike, predicted_classes, resolve_target


def _warn_square(c: int, t: int, layout: Layout | None) -> Layout:
    """The layout to use; warn when the shape cannot tell channels from time."""
    if layout is None:
        if c == t:
            warnings.warn(
                f"The data has as many channels as time points ({c}), so its shape does not say "
                "which axis is which; it is read as (n_cases, n_channels, n_timepoints). Pass "
                "layout='ncl' or layout='nlc' to say so and silence this warning.",
                UserWarning,
                stacklevel=3,
            )
        return "ncl"
    return layout


def _warn_hard_labels(model: Model, output: Any, method_name: str, family: str) -> None:
    """Warn when a black box's scores are hard 0/1 labels (perturbation maps are then mostly 0)."""
    if model.differentiable or family != "perturbation" or not isinstance(output, torch.Tensor):
        return
    if output.numel() and bool(((output == 0) | (output == 1)).all()):
        warnings.warn(
            f"The model's scores are hard labels (every value is exactly 0 or 1), so "
            f"{method_name!r} gives 0 wherever a perturbation does not flip the label, often for "
            "whole cases. Pass a model whose predict_proba returns probabilities (e.g. a "
            "calibrated classifier), or a callable returning its decision_function.",
            UserWarning,
            stacklevel=3,
        )


def _names(names: Sequence[str] | None, count: int, what: str) -> tuple[str, ...] | None:
    if names is None:
        return None
    result = tuple(str(name) for name in names)
    if what == "channel" and len(result) != count:
        raise ValueError(f"`channel_names` has {len(result)} names for {count} channels.")
    return result


def run_bound(
    bound: BoundMethod,
    model: Model,
    xt: torch.Tensor,
    target: TargetLike,
    first_output: Any,
    rows: int,
    progress: Progress,
) -> tuple[MethodResult, Any, Target]:
    """Run ``bound`` on all cases; return its result, the model output and the resolved target.

    Methods whose calls are all at the input (``calls_at_input``) hand back the model output,
    so no separate forward pass is run for them.
    """
    n = xt.shape[0]
    at_input = (
        bound.spec.calls_at_input
        and not callable(target)
        and isinstance(first_output, torch.Tensor)
        and first_output.ndim == 2
        and first_output.shape[1] > 1  # a binary head's reading needs every case's output
    )
    if at_input:
        resolved = resolve_target(target, first_output, n)
    else:
        output = model_output(model, xt, rows)
        resolved = resolve_target(target, output)
    result = bound(xt, resolved, batch_size=rows, progress=progress)
    if at_input:
        seen = result.output
        if isinstance(seen, torch.Tensor) and seen.shape[0] == n:
            output = seen
        else:  # the method did not return the output of every case
            output = model_output(model, xt, rows)
        if resolved.predicted:
            binary = resolved.binary
            resolved = Target(indices=predicted_classes(output, binary).cpu(), binary=binary)
    return result, output, resolved


@dataclass(frozen=True)
class _Call:
    """What explain() binds and runs, for one array of equal-length series."""

    model: Model
    method: str
    params: dict[str, Any]
    layer: Any
    seed: int | None
    batch_size: int | str
    layout: Layout

    def run(
        self, series: np.ndarray, target: TargetLike, bar: Progress
    ) -> tuple[BoundMethod, MethodResult, Any, Target]:
        """Bind the method for ``series``' shape and run it on every case."""
        _, c, t = series.shape
        xt = torch.from_numpy(np.ascontiguousarray(series))
        first_output, checked = first_output_of(self.model, xt, self.layout)
        bound = bind(
            self.method,
            self.model,
            n_channels=c,
            n_timepoints=t,
            params=self.params,
            layer=self.layer,
            seed=self.seed,
            layout=self.layout,
        )
        rows = resolve_batch_size(self.batch_size, self.model, c, t)
        try:
            result, output, resolved = run_bound(
                bound, self.model, xt, target, first_output, rows, bar
            )
        except Exception as error:
            if not checked:  # the data was not tried before the work: say what failed clearly
                reraise_clearly(self.model, xt, self.layout, error)
            raise
        return bound, result, output, resolved


def _run_by_length(
    call: _Call, series: np.ndarray, lengths: np.ndarray, target: TargetLike, bar: Progress
) -> tuple[BoundMethod, MethodResult, Any, Target]:
    """Run ``call`` on each group of equal-length cases, unpadded; put the cases back in order."""
    n, _, t = series.shape
    call = replace(call, seed=resolve_seed(call.seed))  # one seed for every group
    per_case = target is not None and not callable(target) and np.ndim(target) == 1
    runs = []
    for length, index in groups(lengths):
        part_target = np.asarray(target)[index].tolist() if per_case else target
        try:
            runs.append((index, call.run(series[index, :, :length], part_target, bar)))
        except ValueError as error:
            raise ValueError(
                f"On the {len(index)} cases of length {length} (the data has unequal lengths, "
                f"{int(lengths.min())} to {t}; each length is explained at its own length): "
                f"{error}"
            ) from error
    result, output, resolved = merge_runs([(i, r[1:]) for i, r in runs], n, t)
    return runs[0][1][0], result, output, resolved


def _hold_padding(
    method: str,
    params: dict[str, Any],
    series: np.ndarray,
    lengths: np.ndarray,
    fill: float,
    seed: int | None,
    layout: Layout,
) -> dict[str, Any]:
    """``params`` with a named or constant baseline made ``fill`` on the padding (hold_padding)."""
    spec = get_method(method)
    if "baseline" not in spec.parameters:
        return params
    values = hold_padding(
        params.get("baseline", spec.default("baseline")), series, lengths, fill, seed
    )
    if values is None:
        return params
    return {**params, "baseline": values.transpose(0, 2, 1) if layout == "nlc" else values}


def explain(
    model: Any,
    x: Any,
    method: str,
    *,
    target: TargetLike = None,
    layer: Any = None,
    layout: Layout | None = None,
    batch_size: int | str = "auto",
    seed: int | None = None,
    progress: bool | None = None,
    channel_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    pad_value: float | None = None,
    **params: Any,
) -> Explanation:
    """Explain a model's decisions on time series with one attribution method.

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
        A classifier whose output is class scores of shape (n_cases, n_classes), logits or
        probabilities; any output when ``target`` is a callable. It is explained in eval mode
        and left exactly as it was.
    x : array-like of shape (n_cases, n_channels, n_timepoints) or (n_channels, n_timepoints)
        The series (NumPy array, torch tensor or nested lists); never modified.
    method : str
        A registered method name, see :func:`chronolens.methods`.
    target : None, int, sequence of int, or callable, default=None
        None explains each case's predicted class; an int that class for every case; a sequence
        one class per case; a callable maps the model output of a batch to one score per row,
        for outputs that are not class scores.
    layer : str or torch.nn.Module, optional
        For CAM methods: the layer to read, by name (``model.named_modules()``) or as the module.
        Default: the last layer whose output still has a time axis. The layer used is in
        ``extras["layer"]``.
    layout : {"ncl", "nlc"} or None, default=None
        Axis order of ``x`` (and of array baselines): channels before time, or channels last.
        None reads "ncl", with a warning when the shape cannot tell the axes apart
        (``n_channels == n_timepoints``).
    batch_size : int or "auto", default="auto"
        Rows per model call. "auto" sizes chunks from a memory budget (see
        :mod:`chronolens._batching`). Results do not depend on it.
    seed : int, optional
        Seed of randomised methods (SmoothGrad, Shapley sampling, noise baselines, dCAM's
        permutations); ignored by deterministic ones. None draws a fresh seed; the seed used
        is in ``params["seed"]`` and ``extras["seed"]``, and passing it back reproduces the map
        bit for bit.
    progress : bool or None, default=None
        None shows a progress bar once work has run for 2 seconds; True always; False never.
    channel_names, class_names : sequence of str, optional
        Names for plots and reports.
    pad_value : float or None, default=None
        For unequal-length data only (a list of ``(n_channels, t_i)`` arrays, ``(t_i,
        n_channels)`` with ``layout="nlc"``). None: each length is explained at its own
        length, so the model never sees padding (models that take any length). A number: the
        model sees every case padded at the end with it (models that need one length or mask
        a value, e.g. ``keras.layers.Masking(mask_value=pad_value)``); a named or constant
        ``baseline`` then holds the padding at ``pad_value``. Either way ``x`` is padded with
        ``pad_value`` (0.0 when None), attribution is NaN on the padding and ``lengths`` holds
        each case's length. A forward taking lengths, a mask or a ``PackedSequence`` is always
        run one length at a time (:mod:`chronolens.models._sequence_inputs`).
    **params
        Parameters of the method (see its docstring, e.g. ``n_steps`` for
        ``"integrated_gradients"``).

    Returns
    -------
    Explanation
        ``attributions`` of shape (n_cases, n_channels, n_timepoints) for per-channel methods,
        (n_cases, 1, n_timepoints) for maps shared by all channels (CAM family).

    Raises
    ------
    ValueError, TypeError
        For bad input, each naming the problem and the fix.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=3, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(4, 3, 40)).astype("float32")
    >>> exp = cl.explain(model, x, method="grad_cam")
    >>> exp.attributions.shape
    (4, 1, 40)
    >>> cl.explain(model, x, method="saliency").attributions.shape
    (4, 3, 40)
    """
    if layout is not None:
        check_choice(layout, "layout", LAYOUTS)
    batch_size = check_batch_size(batch_size)
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"`progress` must be None, True or False; got {progress!r}.")
    adapted = adapt(model)
    lengths = None
    if is_ragged(x):
        fill = 0.0 if pad_value is None else float(pad_value)
        series, lengths = pad_series(x, layout or "ncl", pad_value=fill)
    else:
        series = as_series(x, layout or "ncl")
    _, c, t = series.shape
    read_as = _warn_square(c, t, layout)
    channel_names = _names(channel_names, c, "channel")
    call = _Call(adapted, method, params, layer, seed, batch_size, read_as)
    with adapted.session():
        bar = Progress(progress, description=method)
        try:
            padded = pad_value is not None and not takes_lengths(adapted)
            if lengths is not None and pad_value is not None and padded:
                seed = resolve_seed(seed) if get_method(method).randomized else seed
                held = _hold_padding(method, params, series, lengths, pad_value, seed, read_as)
                call = replace(call, seed=seed, params=held)
            if lengths is not None and not padded:
                bound, result, output, resolved = _run_by_length(call, series, lengths, target, bar)
            else:
                bound, result, output, resolved = call.run(series, target, bar)
        finally:
            bar.close()
    _warn_hard_labels(adapted, output, bound.name, bound.spec.family)
    if class_names is None and getattr(model, "classes_", None) is not None:
        class_names = [str(name) for name in model.classes_]  # a fitted classifier's labels
    return _explanation(
        bound, series, result, output, resolved, read_as, channel_names, class_names, lengths
    )


def _explanation(
    bound: BoundMethod,
    series: np.ndarray,
    result: MethodResult,
    output: Any,
    resolved: Target,
    layout: str,
    channel_names: tuple[str, ...] | None,
    class_names: Sequence[str] | None,
    lengths: np.ndarray | None = None,
) -> Explanation:
    """Pack a method's result into an Explanation (NaN attribution beyond each length)."""
    attributions = nan_padding(result.attributions.detach().cpu().float().numpy(), lengths)
    if isinstance(output, torch.Tensor) and output.ndim == 2 and resolved.fn is None:
        scores = output.detach().cpu().float().numpy()
    else:
        scores = resolved.select(output).detach().cpu().float().numpy()[:, None]
    extras = dict(result.extras)
    for key, value in result.case_extras.items():
        extras[key] = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
    if bound.randomized:
        extras.setdefault("seed", bound.seed)
    c = series.shape[1]
    names = _names(class_names, 0, "class")
    n_classes = 2 if resolved.binary else scores.shape[1]
    if names is not None and resolved.fn is None and len(names) != n_classes:
        raise ValueError(
            f"`class_names` has {len(names)} names for {n_classes} classes; pass exactly "
            f"{n_classes}."
        )
    return Explanation(
        x=series,
        attributions=attributions,
        target=resolved.as_array(),
        scores=scores,
        method=bound.name,
        params=dict(bound.recorded),
        per_channel=attributions.shape[1] == c and bool(bound.spec.per_channel),
        layout=layout,
        extras=extras,
        case_keys=tuple(result.case_extras),
        channel_names=channel_names,
        class_names=names,
        lengths=lengths,
    )
