"""``MethodSpec``: everything chronolens knows about one attribution method, in one entry.

A method is a plain function ``fn(model, x, target, *, <params>, batch_size, progress) ->
MethodResult`` (see :mod:`chronolens.attribution._result`) plus one ``MethodSpec``. The spec is the
single source of per-method facts: what the method needs from a model, what its map looks like,
what it records in ``extras``, the cheap parameters conformance tests use, and the parameters the
demo and the report use. ``explain()``, ``evaluate()``, ``report()``, the CLI, the conformance
checks in :mod:`chronolens.testing` and the README's methods table all read it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Capability defaults of each family: (needs_gradients, needs_layer, per_channel).
FAMILY_DEFAULTS: dict[str, tuple[bool, bool, bool]] = {
    "gradient": (True, False, True),
    "cam": (True, True, False),
    "perturbation": (False, False, True),
}

#: Arguments ``explain()`` supplies itself; never method parameters.
RUNTIME_ARGUMENTS = ("model", "x", "target", "batch_size", "progress", "layer", "seed")


_PARAMETERS: dict[Any, Mapping[str, inspect.Parameter]] = {}


def _signature_parameters(fn: Any) -> Mapping[str, inspect.Parameter]:
    """``inspect.signature(fn).parameters``, read once per function (``explain`` asks per call)."""
    try:
        if fn not in _PARAMETERS:
            _PARAMETERS[fn] = inspect.signature(fn).parameters
        return _PARAMETERS[fn]
    except TypeError:  # an unhashable callable
        return inspect.signature(fn).parameters


@dataclass(frozen=True, kw_only=True)
class MethodSpec:
    """How chronolens runs and presents one method.

    Parameters
    ----------
    name : str
        Registered name, as passed to ``explain(method=...)``.
    fn : callable
        ``fn(model, x, target, *, [layer], [seed], **params, batch_size, progress) ->
        MethodResult``. A ``seed`` parameter makes the method randomized: it then always
        receives an int (drawn once per call when the user gives none, and recorded).
    family : str
        "gradient", "cam", "perturbation" (or a family of your own, with explicit flags).
    summary : str
        One line for ``chronolens.methods()``.
    needs_gradients, needs_layer, per_channel : bool, optional
        What the method needs from a model (gradients with respect to the input; a layer's
        activations) and whether its map has one row per channel (else one row shared by all
        channels). Default: the family's (:data:`FAMILY_DEFAULTS`).
    needs_rules : bool, default=False
        True for propagation methods, which change the backward pass of the model's layers
        (:meth:`chronolens.models.base.Model.rule_gradient`): torch modules and Keras on the
        torch backend.
    layer_rank : int, default=3
        Rank of the layer output the method reads: 3 for (n, filters, time), 4 for the
        (n, filters, rows, time) activations of dimension-wise networks.
    calls_at_input : bool, default=False
        True when every model call of the method is on the unperturbed cases, in order, and the
        method returns their output in ``MethodResult.output``: ``explain()`` then skips its own
        forward pass and may hand the method a "predicted class" target.
    wraps : str, optional
        For methods that run another registered method (temporal saliency rescaling): the
        parameter naming it. ``explain()`` binds that method (with ``<wraps>_params``) and passes
        the bound method, so the wrapper inherits its requirements.
    meaning, key_params : str
        The README table's "what it means" and "key parameters" cells.
    extras : mapping of str to str
        Keys the method records in ``Explanation.extras``, each with one line of meaning.
    test_params, demo_params, report_params : mapping
        Parameters for the conformance tests (cheap: tiny models, short series), for ``make
        demo`` and for ``chronolens.report``.
    """

    name: str
    fn: Callable[..., Any]
    family: str
    summary: str
    needs_gradients: bool | None = None
    needs_layer: bool | None = None
    per_channel: bool | None = None
    needs_rules: bool = False
    layer_rank: int = 3
    calls_at_input: bool = False
    wraps: str | None = None
    meaning: str = ""
    key_params: str = ""
    extras: Mapping[str, str] = field(default_factory=dict)
    test_params: Mapping[str, Any] = field(default_factory=dict)
    demo_params: Mapping[str, Any] = field(default_factory=dict)
    report_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"A method name must be an identifier; got {self.name!r}.")
        if not callable(self.fn):
            raise TypeError(f"`fn` of method {self.name!r} must be callable.")
        defaults = FAMILY_DEFAULTS.get(self.family)
        flags = {"needs_gradients": 0, "needs_layer": 1, "per_channel": 2}
        for flag, index in flags.items():
            if getattr(self, flag) is None:
                if defaults is None:
                    raise ValueError(
                        f"Method {self.name!r} is of family {self.family!r}, which has no "
                        f"defaults; set {', '.join(flags)} explicitly (known families: "
                        f"{', '.join(FAMILY_DEFAULTS)})."
                    )
                object.__setattr__(self, flag, defaults[index])
        signature = inspect.signature(self.fn)
        missing = [p for p in ("batch_size", "progress") if p not in signature.parameters]
        if missing:
            raise TypeError(
                f"`fn` of method {self.name!r} must take the keyword arguments batch_size and "
                f"progress; it lacks {', '.join(missing)}."
            )
        if self.needs_layer and "layer" not in signature.parameters:
            raise TypeError(f"Method {self.name!r} reads a layer, so `fn` must take `layer`.")
        if self.wraps is not None and self.wraps not in signature.parameters:
            raise TypeError(f"Method {self.name!r} wraps through `{self.wraps}`, not a parameter.")

    @property
    def randomized(self) -> bool:
        """True when the method takes a ``seed``."""
        return "seed" in _signature_parameters(self.fn)

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameters a user may pass (``**params`` of ``explain()``)."""
        return tuple(
            name for name in _signature_parameters(self.fn) if name not in RUNTIME_ARGUMENTS
        )

    def default(self, parameter: str) -> Any:
        """The default value of one of the method's parameters."""
        value = _signature_parameters(self.fn)[parameter].default
        return None if value is inspect.Parameter.empty else value

    @property
    def map_kind(self) -> str:
        """The map's shape in words: per channel, shared, or either (a ``channels`` parameter)."""
        if not self.per_channel:
            return "shared"
        return "per channel or shared" if "channels" in self.parameters else "per channel"
