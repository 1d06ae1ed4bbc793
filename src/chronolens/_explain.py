"""``explain()``: validation, adaptation, batching and progress around a registered method."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from chronolens._batching import chunks, resolve_batch_size
from chronolens._progress import Progress
from chronolens._validation import check_batch_size, check_choice, check_no_extra_params, check_seed
from chronolens.explanation import Explanation
from chronolens.models import adapt
from chronolens.models.torch import TorchModel
from chronolens.registry import REGISTRY, get_method
from chronolens.series import LAYOUTS, as_series
from chronolens.targets import Target, TargetLike, resolve_target

_RUNTIME = ("batch_size", "progress", "seed", "layer")
_SERIES_PARAMS = ("baseline",)


def _check_input(model: Any, x: torch.Tensor, layout: str) -> Any:
    """Run the model on one case and return its output.

    A failure on the input shape becomes a clear error naming both readings of the data.
    """
    n, c, t = x.shape
    from chronolens.models.blackbox import ModelOutputError

    try:
        return model.scores(x[:1])
    except ModelOutputError:
        raise
    except Exception as error:
        other = "nlc" if layout == "ncl" else "ncl"
        expected = getattr(model, "expected_channels", lambda: None)()
        hint = f" The model's first layer expects {expected} channels." if expected else ""
        raise ValueError(
            f"The model failed on the data read with layout={layout!r} as (n_cases={n}, "
            f"n_channels={c}, n_timepoints={t}): {type(error).__name__}: {error}.{hint} If "
            f"the data is stored the other way, pass layout={other!r}, which reads it as "
            f"(n_cases={n}, n_channels={t}, n_timepoints={c})."
        ) from None


def _model_output(model: Any, x: torch.Tensor, batch_size: int) -> Any:
    """The model output for all cases, in chunks."""
    outputs = [model.scores(x[start:stop]) for start, stop in chunks(x.shape[0], batch_size)]
    return _concatenate(outputs)


def _concatenate(parts: list[Any]) -> Any:
    """Concatenate model outputs along cases: tensors, and tuples, lists or dicts of them."""
    first = parts[0]
    if len(parts) == 1:
        return first
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, (tuple, list)):
        return type(first)(_concatenate([p[i] for p in parts]) for i in range(len(first)))
    if isinstance(first, dict):
        return {key: _concatenate([p[key] for p in parts]) for key in first}
    raise TypeError(
        f"The model returned {type(first).__name__}; chronolens needs a tensor, or a tuple, "
        "list or dict of tensors with a callable `target`."
    )


def explain(
    model: Any,
    x: Any,
    method: str,
    *,
    target: TargetLike = None,
    layer: Any = None,
    layout: str = "ncl",
    batch_size: int | str = "auto",
    seed: int | None = None,
    progress: bool | None = None,
    channel_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
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
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of ``x`` (and of array baselines): channels before time, or channels last.
    batch_size : int or "auto", default="auto"
        Rows per model call. "auto" sizes chunks from a memory budget (see
        :mod:`chronolens._batching`). Results do not depend on it.
    seed : int, optional
        Seed of randomised methods (SmoothGrad); the seed used is in ``extras["seed"]``.
    progress : bool or None, default=None
        None shows a progress bar once work has run for 2 seconds; True always; False never.
    channel_names, class_names : sequence of str, optional
        Names for plots and reports.
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
    spec = get_method(method)
    check_choice(layout, "layout", LAYOUTS)
    batch_size = check_batch_size(batch_size)
    seed = check_seed(seed)
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"`progress` must be None, True or False; got {progress!r}.")
    accepted = [
        name
        for name in inspect.signature(spec.fn).parameters
        if name not in ("model", "x", "target") and name not in _RUNTIME
    ]
    check_no_extra_params(spec.name, params, accepted)
    if layer is not None and not spec.needs_layer:
        raise TypeError(
            f"Method {spec.name!r} does not read a layer; `layer` applies to the CAM methods "
            f"({', '.join(n for n, s in REGISTRY.items() if s.needs_layer)})."
        )
    if seed is not None and not spec.randomized:
        raise TypeError(f"Method {spec.name!r} is deterministic and takes no `seed`.")

    adapted = adapt(model)
    if (spec.needs_gradients or spec.needs_layer) and not adapted.differentiable:
        usable = [n for n, s in REGISTRY.items() if not s.needs_gradients and not s.needs_layer]
        raise ValueError(
            f"Method {spec.name!r} needs gradients or layer activations, which this model does "
            f"not expose. Methods that work on any model: {', '.join(usable) or 'none yet'}."
        )
    series = as_series(x, layout)
    for name in _SERIES_PARAMS:
        value = params.get(name)
        if value is not None and not isinstance(value, (str, int, float)) and np.ndim(value) >= 2:
            params_value = as_series(value, layout, name=name)
            params = {**params, name: params_value if np.ndim(value) == 3 else params_value[0]}
    n, c, t = series.shape
    xt = torch.from_numpy(series)
    if channel_names is not None:
        channel_names = tuple(str(name) for name in channel_names)
        if len(channel_names) != c:
            raise ValueError(f"`channel_names` has {len(channel_names)} names for {c} channels.")
    bar = Progress(progress, description=spec.name)
    try:
        with adapted.session():
            example = _check_input(adapted, xt, layout)
            rows = resolve_batch_size(batch_size, adapted, c, t)
            recorder: list[torch.Tensor] | None = None
            if spec.scores_at_x and isinstance(adapted, TorchModel) and not callable(target):
                # The method's own passes over x give the model output: no extra forward pass.
                recorder = []
                resolved = replace(resolve_target(target, example, n), recorder=recorder)
            else:
                output = _model_output(adapted, xt, rows)
                resolved = resolve_target(target, output)
            kwargs: dict[str, Any] = {"batch_size": rows, "progress": bar, **params}
            if spec.randomized:
                kwargs["seed"] = seed
            if spec.needs_layer:
                rank = {} if spec.layer_rank == 3 else {"rank": spec.layer_rank}
                if rank and not isinstance(adapted, TorchModel):
                    raise ValueError(
                        f"Method {spec.name!r} reads dimension-wise PyTorch networks "
                        "(chronolens.zoo.dcnn, zoo.dresnet); this model is not one. Use "
                        "'channel_grad_cam' for a channel x time map of this model."
                    )
                chosen = layer if layer is not None else adapted.default_cam_layer(c, t, **rank)
                kwargs["layer"] = adapted.resolve_layer(chosen, c, t, **rank)
            result = spec.fn(adapted, xt, resolved, **kwargs)
            if recorder is not None:
                seen = torch.cat(recorder) if recorder else None
                if seen is not None and seen.shape[0] == n:
                    output = seen
                else:  # the method did not visit every case once, in order
                    output = _model_output(adapted, xt, rows)
                if resolved.predicted:
                    resolved = Target(indices=output.argmax(dim=1))
                else:
                    resolved = replace(resolved, recorder=None)
    finally:
        bar.close()

    attributions = result.attributions.detach().cpu().float().numpy()
    if isinstance(output, torch.Tensor) and output.ndim == 2 and resolved.fn is None:
        scores = output.detach().cpu().float().numpy()
    else:
        scores = resolved.select(output).detach().cpu().float().numpy()[:, None]
    extras = dict(result.extras)
    for key, value in result.case_extras.items():
        extras[key] = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
    recorded = {key: value for key, value in params.items()}
    if spec.needs_layer:
        recorded["layer"] = kwargs["layer"]
    if spec.randomized:
        recorded["seed"] = extras.get("seed", seed)
    return Explanation(
        x=series,
        attributions=attributions,
        target=resolved.as_array(),
        scores=scores,
        method=spec.name,
        params=recorded,
        per_channel=attributions.shape[1] == c and spec.per_channel,
        layout=layout,
        extras=extras,
        case_keys=tuple(result.case_extras),
        channel_names=channel_names,
        class_names=None if class_names is None else tuple(str(k) for k in class_names),
    )
