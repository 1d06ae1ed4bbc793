"""The method registry: name -> :class:`~chronolens.method_spec.MethodSpec`.

``register`` adds a method (the built-in ones are in :mod:`chronolens._builtin_methods`);
``get_method`` looks one up with suggestions for typos; ``usable_on`` answers "which methods work
on this model" in one place; ``methods()`` prints the table users see, and ``markdown_table()``
is the README's methods table.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from chronolens._builtin_methods import BUILTIN
from chronolens._validation import suggestion
from chronolens.method_spec import MethodSpec
from chronolens.models.base import Model

__all__ = [
    "REGISTRY",
    "MethodInfo",
    "MethodSpec",
    "MethodTable",
    "get_method",
    "markdown_table",
    "methods",
    "missing_capability",
    "register",
    "unregister",
    "usable_on",
]

REGISTRY: dict[str, MethodSpec] = {}


def register(spec: MethodSpec, *, replace: bool = False) -> MethodSpec:
    """Add a method to chronolens.

    After ``register(spec)``, ``explain(model, x, spec.name)``, ``methods()``, ``evaluate()``,
    ``report()``, the CLI and the conformance checks of :mod:`chronolens.testing` all know it.

    Parameters
    ----------
    spec : MethodSpec
        The method: its function and facts.
    replace : bool, default=False
        Allow replacing a method of the same name.

    Returns
    -------
    MethodSpec
        ``spec``, so that ``register`` can be used in an assignment.

    Examples
    --------
    >>> import chronolens as cl
    >>> from chronolens.attribution._result import MethodResult
    >>> def sign_of_input(model, x, target, *, batch_size, progress):
    ...     return MethodResult(x.sign())
    >>> spec = cl.register(cl.MethodSpec(name="sign_of_input", fn=sign_of_input,
    ...                                  family="perturbation", summary="The input's sign."))
    >>> "sign_of_input" in cl.methods().names()
    True
    >>> cl.unregister("sign_of_input")
    """
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"register() takes a MethodSpec; got {type(spec).__name__}.")
    if spec.name in REGISTRY and not replace:
        raise ValueError(
            f"A method named {spec.name!r} is already registered; pass replace=True to replace "
            "it, or choose another name."
        )
    REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a registered method (a no-op for unknown names)."""
    REGISTRY.pop(name, None)


for _spec in BUILTIN:
    register(_spec)


def get_method(name: str) -> MethodSpec:
    """Return the spec of a registered method; unknown names get the closest suggestions."""
    if not isinstance(name, str):
        raise TypeError(f"`method` must be a method name (str); got {type(name).__name__}.")
    if name not in REGISTRY:
        raise ValueError(
            f"Unknown method {name!r}.{suggestion(name, list(REGISTRY))} Registered methods: "
            f"{', '.join(REGISTRY)}. See chronolens.methods()."
        )
    return REGISTRY[name]


def missing_capability(
    spec: MethodSpec, model: Model, params: dict[str, Any] | None = None
) -> str | None:
    """What ``model`` lacks for ``spec`` (with ``params``), or None when the method can run.

    A wrapper method (``spec.wraps``) needs what its base method needs.
    """
    if spec.wraps is not None:
        base = (params or {}).get(spec.wraps, spec.default(spec.wraps))
        if isinstance(base, str) and base in REGISTRY and base != spec.name:
            lacking = missing_capability(REGISTRY[base], model)
            return (
                None if lacking is None else f"runs {spec.wraps}={base!r}, and {base!r} {lacking}"
            )
    needs = []
    if spec.needs_gradients and not model.differentiable:
        needs.append("gradients")
    if spec.needs_layer and not model.reads_layers:
        needs.append("layer activations")
    if spec.needs_rules and not getattr(model, "propagates_rules", False):
        needs.append("a backward pass changed per layer (torch modules, Keras on torch)")
    if not needs:
        return None
    return f"needs {' and '.join(needs)}, which this model does not expose"


def usable_on(model: Any) -> list[str]:
    """Names of the registered methods that work on ``model`` with their default parameters.

    Examples
    --------
    >>> from chronolens.registry import usable_on
    >>> usable_on(lambda X: X.mean(axis=(1, 2))[:, None].repeat(2, axis=1))[:3]
    ['occlusion', 'feature_ablation', 'shapley']
    """
    from chronolens.models import adapt

    adapted = adapt(model)
    return [name for name, spec in REGISTRY.items() if missing_capability(spec, adapted) is None]


class MethodInfo(NamedTuple):
    """One row of :func:`methods`."""

    name: str
    family: str
    per_channel: bool
    needs_gradients: bool
    needs_layer: bool
    summary: str


class MethodTable(tuple["MethodInfo", ...]):
    """A tuple of :class:`MethodInfo` that prints as a table."""

    def __repr__(self) -> str:
        rows = [("name", "family", "per_channel", "gradients", "layer", "summary")]
        rows += [
            (
                m.name,
                m.family,
                str(m.per_channel),
                str(m.needs_gradients),
                str(m.needs_layer),
                m.summary,
            )
            for m in self
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths)) + "  " + row[5]
            for row in rows
        ]
        return "\n".join(lines)

    def names(self) -> list[str]:
        """The method names."""
        return [m.name for m in self]


def methods(family: str | None = None) -> MethodTable:
    """List the registered methods.

    Parameters
    ----------
    family : {"gradient", "cam", "perturbation"} or None, default=None
        Only methods of this family.

    Returns
    -------
    MethodTable
        A tuple of ``MethodInfo(name, family, per_channel, needs_gradients, needs_layer,
        summary)`` that prints as a table.

    Examples
    --------
    >>> import chronolens as cl
    >>> "grad_cam" in cl.methods().names()
    True
    """
    return MethodTable(
        MethodInfo(
            s.name,
            s.family,
            bool(s.per_channel),
            bool(s.needs_gradients),
            bool(s.needs_layer),
            s.summary,
        )
        for s in REGISTRY.values()
        if family is None or s.family == family
    )


def markdown_table(names: list[str] | None = None) -> str:
    """The README's methods table for the registered methods (or ``names``), in Markdown."""
    lines = [
        "| name | family | map | what it means | key parameters |",
        "|---|---|---|---|---|",
    ]
    for name in names if names is not None else list(REGISTRY):
        spec = REGISTRY[name]
        meaning = spec.meaning or spec.summary
        cells = [f"`{spec.name}`", spec.family, spec.map_kind, meaning]
        last = f" {spec.key_params} |" if spec.key_params else " |"
        lines.append("| " + " | ".join(cells) + " |" + last)
    return "\n".join(lines)
