"""Binding a registered method to an adapted model: the one dispatch path.

``bind()`` does, once, everything that stands between a method name and a call of its function:
the parameter check, the capability check (gradients, layer activations), the layer's resolution,
the seed (drawn once when none is given, so it can be recorded and reproduces the map), array
parameters in the data's layout, and, for wrapper methods such as ``tsr``, the binding of the
wrapped method. ``explain()``, ``evaluate()``, ``report()`` and wrapper methods all go through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from chronolens._progress import SILENT, Progress
from chronolens._validation import check_no_extra_params, resolve_seed
from chronolens.attribution._result import MethodResult
from chronolens.method_spec import MethodSpec
from chronolens.models.base import CapabilityError, Model
from chronolens.registry import REGISTRY, get_method, missing_capability, usable_on
from chronolens.series import Layout, as_series
from chronolens.targets import Target

#: Parameters that may hold an array in the data's layout.
SERIES_PARAMS = ("baseline", "background")


@dataclass(frozen=True)
class BoundMethod:
    """A method ready to run on one model: ``bound(x, target, batch_size=..., progress=...)``.

    Attributes
    ----------
    spec : MethodSpec
    model : Model
    params : dict
        What the method's function receives (a wrapped method bound, arrays converted).
    recorded : dict
        The parameters as the user gave them, plus the layer and seed used: what an
        Explanation records, and what reproduces the map.
    layer : str or None
        The resolved layer (CAM methods).
    seed : int or None
        The seed (randomized methods, and wrappers of them).
    base : BoundMethod or None
        The wrapped method (wrappers).
    """

    spec: MethodSpec
    model: Model
    params: Mapping[str, Any] = field(default_factory=dict)
    recorded: Mapping[str, Any] = field(default_factory=dict)
    layer: str | None = None
    seed: int | None = None
    base: BoundMethod | None = None

    @property
    def name(self) -> str:
        """The method's registered name."""
        return self.spec.name

    @property
    def randomized(self) -> bool:
        """True when the map depends on the seed."""
        return self.spec.randomized or (self.base is not None and self.base.randomized)

    def __call__(
        self,
        x: torch.Tensor,
        target: Target,
        *,
        batch_size: int,
        progress: Progress = SILENT,
    ) -> MethodResult:
        """Run the method on series ``x`` (n, c, t) in the chronolens layout."""
        kwargs = dict(self.params)
        if self.layer is not None:
            kwargs["layer"] = self.layer
        if self.spec.randomized:
            kwargs["seed"] = self.seed
        result = self.spec.fn(
            self.model, x, target, batch_size=batch_size, progress=progress, **kwargs
        )
        if not isinstance(result, MethodResult):
            raise TypeError(
                f"Method {self.name!r} returned {type(result).__name__}; a method's function "
                "must return chronolens.attribution._result.MethodResult."
            )
        return result


def capability_error(spec: MethodSpec, model: Model, params: Mapping[str, Any]) -> str | None:
    """The message for a model that lacks what ``spec`` needs, or None."""
    lacking = missing_capability(spec, model, dict(params))
    if lacking is None:
        return None
    names = usable_on(model)
    wrappers = [n for n, s in REGISTRY.items() if s.wraps is not None and n not in names]
    listed = ", ".join(names) or "none"
    if wrappers and names:
        listed += ", and " + ", ".join(
            f"{w} with {REGISTRY[w].wraps}= one of those" for w in wrappers
        )
    hint = ""
    if spec.needs_layer and not model.reads_layers and model.differentiable:
        hint = (
            " (TorchScript modules run without forward hooks: save the model with torch.export, "
            "a .pt2 archive, to read its layers)"
        )
    rules = getattr(model, "propagates_rules", False)
    if spec.needs_rules and not rules and model.differentiable:
        hint = (
            " (a Keras model: load it on the torch backend, KERAS_BACKEND=torch set before keras "
            "is imported, where a .keras file saved on TensorFlow or JAX loads too; a TorchScript "
            "module: save it with torch.export, a .pt2 archive)"
        )
    return f"Method {spec.name!r} {lacking}{hint}. Methods that work on this model: {listed}."


def _series_params(params: dict[str, Any], layout: Layout) -> dict[str, Any]:
    for name in SERIES_PARAMS:
        value = params.get(name)
        if value is not None and not isinstance(value, (str, int, float)) and np.ndim(value) >= 2:
            converted = as_series(value, layout, name=name)
            params[name] = converted if np.ndim(value) == 3 else converted[0]
    return params


def bind(
    method: str,
    model: Model,
    *,
    n_channels: int,
    n_timepoints: int,
    params: Mapping[str, Any] | None = None,
    layer: Any = None,
    seed: Any = None,
    layout: Layout = "ncl",
) -> BoundMethod:
    """Bind a registered method to an adapted model for series of one shape.

    Parameters
    ----------
    method : str
        A registered method name.
    model : Model
        An adapted model (:func:`chronolens.adapt`).
    n_channels, n_timepoints : int
        Shape of the series (for the layer's resolution).
    params : mapping, optional
        The method's parameters.
    layer : str or layer object, optional
        For methods that read a layer; default: the last layer with a time axis.
    seed : int, optional
        For randomized methods (ignored by deterministic ones); drawn once when None.
    layout : {"ncl", "nlc"}, default="ncl"
        Layout of array parameters (``baseline``).

    Raises
    ------
    ValueError, TypeError
        Unknown method or parameter, a model that lacks a capability (naming the methods that
        work), a layer the method cannot read.
    """
    spec = get_method(method)
    given = dict(params or {})
    check_no_extra_params(spec.name, given, spec.parameters)
    if layer is not None and not spec.needs_layer:
        raise TypeError(
            f"Method {spec.name!r} does not read a layer; `layer` applies to the methods that do "
            f"({', '.join(n for n, s in REGISTRY.items() if s.needs_layer)})."
        )
    message = capability_error(spec, model, given)
    if message is not None:
        raise CapabilityError(message)
    values = _series_params(dict(given), layout)
    seed_value = resolve_seed(seed) if spec.randomized or spec.wraps else None
    base = None
    if spec.wraps is not None:
        base = _bind_base(spec, model, values, n_channels, n_timepoints, seed_value, layout)
        values[spec.wraps] = base
        values.pop(f"{spec.wraps}_params", None)
    resolved = None
    if spec.needs_layer:
        rank = spec.layer_rank
        chosen = (
            layer if layer is not None else model.default_cam_layer(n_channels, n_timepoints, rank)
        )
        resolved = model.resolve_layer(chosen, n_channels, n_timepoints, rank)
    recorded = dict(given)
    if resolved is not None:
        recorded["layer"] = resolved
    bound = BoundMethod(spec, model, values, recorded, resolved, seed_value, base)
    if bound.randomized:
        recorded["seed"] = seed_value
    return bound


def _bind_base(
    spec: MethodSpec,
    model: Model,
    values: dict[str, Any],
    n_channels: int,
    n_timepoints: int,
    seed: int | None,
    layout: Layout,
) -> BoundMethod:
    """Bind the method a wrapper runs (``values[spec.wraps]``, with ``<wraps>_params``)."""
    assert spec.wraps is not None
    name = values.get(spec.wraps, spec.default(spec.wraps))
    if not isinstance(name, str):
        raise TypeError(f"`{spec.wraps}` must be a registered method name (str); got {name!r}.")
    if name == spec.name or (name in REGISTRY and REGISTRY[name].wraps is not None):
        raise ValueError(
            f"`{spec.wraps}` cannot be {name!r}, a wrapper method itself; choose e.g. "
            "'integrated_gradients'."
        )
    extra = values.get(f"{spec.wraps}_params") or {}
    if not isinstance(extra, Mapping):
        raise TypeError(
            f"`{spec.wraps}_params` must be a dict of the {spec.wraps} method's parameters; got "
            f"{type(extra).__name__}."
        )
    extra = dict(extra)
    layer = extra.pop("layer", None)
    try:
        return bind(
            name,
            model,
            n_channels=n_channels,
            n_timepoints=n_timepoints,
            params=extra,
            layer=layer,
            seed=seed,
            layout=layout,
        )
    except CapabilityError as error:
        raise CapabilityError(
            f"Method {spec.name!r} runs {spec.wraps}={name!r}, which cannot run here: {error} "
            f"Pass {spec.wraps}= one of those."
        ) from None
    except TypeError as error:
        unknown = [p for p in extra if p not in REGISTRY[name].parameters]
        if unknown:
            raise TypeError(
                f"`{spec.wraps}_params` {unknown} are not parameters of {name!r}; it accepts: "
                f"{', '.join(REGISTRY[name].parameters) or 'none'}."
            ) from None
        raise TypeError(f"`{spec.wraps}_params`: {error}") from None
