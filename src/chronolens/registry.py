"""The method registry: name -> what the method needs and returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from chronolens._validation import suggestion
from chronolens.methods import (
    ablation,
    cam,
    channel_cam,
    dcam,
    gradients,
    integrated_gradients,
    occlusion,
    rescaling,
    shap,
)


@dataclass(frozen=True)
class MethodSpec:
    """How ``explain()`` runs a method.

    Attributes
    ----------
    name : str
        Registered name, as passed to ``explain(method=...)``.
    fn : callable
        ``fn(model, x, target, *, batch_size, progress, [layer], [seed], **params)``.
    family : str
        "gradient", "cam" or "perturbation".
    per_channel : bool
        True when the map has one row per channel, False when one map is shared by all channels.
    needs_gradients : bool
        False for methods that work on black-box models.
    needs_layer : bool
        True for methods that read a layer (CAM family).
    randomized : bool
        True for methods that take a ``seed``.
    summary : str
        One line for ``methods()``.
    scores_at_x : bool
        True when the method's model calls are one pass over the unperturbed cases, in order;
        ``explain()`` then takes the model output from those calls instead of a separate
        forward pass, and the method may receive a ``predicted`` target.
    layer_rank : int
        Rank of the layer output the method reads: 3 for (n, filters, time), 4 for the
        (n, filters, rows, time) activations of dimension-wise networks.
    """

    name: str
    fn: Callable[..., Any]
    family: str
    per_channel: bool
    needs_gradients: bool
    needs_layer: bool
    randomized: bool
    summary: str
    scores_at_x: bool = False
    layer_rank: int = 3


REGISTRY: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the registry (replacing a method of the same name)."""
    REGISTRY[spec.name] = spec
    return spec


for _spec in [
    MethodSpec(
        "saliency",
        gradients.saliency,
        "gradient",
        True,
        True,
        False,
        False,
        "Absolute (or signed) gradient of the score: local sensitivity.",
        scores_at_x=True,
    ),
    MethodSpec(
        "input_x_gradient",
        gradients.input_x_gradient,
        "gradient",
        True,
        True,
        False,
        False,
        "Input times gradient: first-order contribution, signed.",
        scores_at_x=True,
    ),
    MethodSpec(
        "smoothgrad",
        gradients.smoothgrad,
        "gradient",
        True,
        True,
        False,
        True,
        "Gradient averaged over noisy copies: less jitter.",
    ),
    MethodSpec(
        "integrated_gradients",
        integrated_gradients.integrated_gradients,
        "gradient",
        True,
        True,
        False,
        False,
        "Path integral of gradients from a baseline: sums to the score change.",
    ),
    MethodSpec(
        "cam",
        cam.cam,
        "cam",
        False,
        True,
        True,
        False,
        "Class activation map of a global-average-pooling + linear network.",
    ),
    MethodSpec(
        "grad_cam",
        cam.grad_cam,
        "cam",
        False,
        True,
        True,
        False,
        "Layer features weighted by mean gradient: when the evidence occurs.",
        scores_at_x=True,
    ),
    MethodSpec(
        "grad_cam_pp",
        cam.grad_cam_pp,
        "cam",
        False,
        True,
        True,
        False,
        "Grad-CAM++: better with several events per series.",
        scores_at_x=True,
    ),
    MethodSpec(
        "layer_cam",
        cam.layer_cam,
        "cam",
        False,
        True,
        True,
        False,
        "Per-position positive gradients times features: sharper on early layers.",
        scores_at_x=True,
    ),
    MethodSpec(
        "score_cam",
        cam.score_cam,
        "cam",
        False,
        False,
        True,
        False,
        "Features weighted by the score of the input they mask: gradient-free.",
    ),
]:
    register(_spec)

# Perturbation methods: any model, gradients not needed.
for _spec in [
    MethodSpec(
        "occlusion",
        occlusion.occlusion,
        "perturbation",
        True,
        False,
        False,
        True,
        "Score drop when a sliding window is replaced: any model.",
    ),
    MethodSpec(
        "feature_ablation",
        ablation.feature_ablation,
        "perturbation",
        True,
        False,
        False,
        True,
        "Score drop when a time segment is replaced: any model.",
    ),
    MethodSpec(
        "shapley",
        shap.shapley,
        "perturbation",
        True,
        False,
        False,
        True,
        "Shapley values of segment x channel players (exact or Kernel SHAP).",
    ),
]:
    register(_spec)

register(
    MethodSpec(
        "channel_grad_cam",
        channel_cam.channel_grad_cam,
        "cam",
        True,
        True,
        True,
        False,
        "Each channel's share of the Grad-CAM map (channel ablation): when and which sensor.",
    )
)
register(
    MethodSpec(
        "dcam",
        dcam.dcam,
        "cam",
        True,
        True,
        True,
        True,
        "Dimension-wise CAM of a d-CNN / d-ResNet (zoo.dcnn): channel x time from permutations.",
        layer_rank=4,
    )
)
register(
    MethodSpec(
        "tsr",
        rescaling.tsr,
        "perturbation",
        True,
        False,
        False,
        True,
        "Temporal saliency rescaling of any method (base=...): time x channel relevance.",
    )
)


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


class MethodInfo(NamedTuple):
    """One row of :func:`methods`."""

    name: str
    family: str
    per_channel: bool
    needs_gradients: bool
    needs_layer: bool
    summary: str


class MethodTable(tuple):  # type: ignore[type-arg]
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
        MethodInfo(s.name, s.family, s.per_channel, s.needs_gradients, s.needs_layer, s.summary)
        for s in REGISTRY.values()
        if family is None or s.family == family
    )
