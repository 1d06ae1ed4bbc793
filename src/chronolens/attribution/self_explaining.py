"""Models that explain themselves: read the interpretation a multiple-instance head computes.

A MILLET head (:func:`chronolens.zoo.mil`, or any model with layers named as it names them) passes
its per-position class contributions ``(n, k, t')`` through a layer named ``interpretation`` and
its attention weights ``(n, 1, t')`` through one named ``attention`` or ``embedding_attention``.
``mil`` reads them through the protocol (``model.layer_gradient``: the interpretation and the
scores of the same forward pass), checks that the target score is the mean over time of the
interpretation (what makes the map an exact decomposition), and carries the map on the layer's
positions to input time through receptive fields, like every CAM.
"""

from __future__ import annotations

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens.attribution._common import concatenate
from chronolens.attribution._receptive_field import layer_centers, to_input_time
from chronolens.attribution._result import MethodResult
from chronolens.models.base import CapabilityError, Model
from chronolens.targets import Target

_WORKING = "'grad_cam', 'integrated_gradients' or 'occlusion'"


def _named(model: Model, role: str) -> str | None:
    """The layer whose last name component is ``role`` (``head.interpretation`` -> role)."""
    for name in model.layers():
        if name.replace("/", ".").rsplit(".", 1)[-1] == role:
            return name
    return None


def _find_head(model: Model) -> tuple[str, str]:
    """Return ``(layer, pooling)`` of the model's MIL head, or raise CapabilityError."""
    interpretation = _named(model, "interpretation")
    attention = _named(model, "attention")
    embedding_attention = _named(model, "embedding_attention")
    if interpretation is not None:
        if attention is not None:
            return interpretation, "conjunctive"
        return interpretation, "additive" if embedding_attention is not None else "instance"
    if embedding_attention is not None:
        return embedding_attention, "attention"
    raise CapabilityError(
        "'mil' reads the interpretation of a multiple-instance head, and this model has none (no "
        "layer named 'interpretation' or 'embedding_attention'). Build one with "
        "chronolens.zoo.mil(backbone, n_classes), or explain "
        f"this model with a post-hoc method such as {_WORKING}."
    )


def _class_map(activation: torch.Tensor, grad: torch.Tensor, layer: str) -> torch.Tensor:
    """Target-class row of the interpretation, checked to average exactly to the score."""
    n_positions = grad[0, 0].numel()  # time positions, or (channel, time) pairs
    weight = grad * n_positions  # 1 on the target class's row (or its linear combination)
    scale = weight.abs().max().clamp(min=1e-12)
    flat = weight.flatten(2)
    if (flat - flat.mean(dim=-1, keepdim=True)).abs().max() > 1e-4 * scale:
        raise ValueError(
            f"'mil' needs the target score to be the mean over time of layer {layer!r}, but its "
            "gradient changes along time. Explain the logits (not probabilities), or use "
            f"{_WORKING}."
        )
    return (weight * activation).sum(dim=1)


def mil(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """The model's own class x time interpretation, from its multiple-instance head (MILLET).

    For instance, conjunctive and additive pooling, the map on the head's positions is the
    target class's per-position contribution, whose mean over time is the target score exactly
    (``extras["layer_map"]``); it is then placed in input time through the receptive fields of
    the backbone. For attention pooling it is the attention weight of each position, the same for
    every class. Signed for the class poolings; in [0, 1] for attention.

    References
    ----------
    Early, Cheung, Cutajar, Xie, Kowalski, Ramamoorthy (2024). Inherently interpretable time
    series classification via multiple instance learning. ICLR.
    """
    layer, pooling = _find_head(model)
    maps, outputs = [], []
    progress.start(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        _, activation, grad, output = model.layer_gradient(
            x[start:stop], target.take(slice(start, stop)), layer
        )
        activation = activation.detach().cpu()
        if pooling == "attention":
            maps.append(activation[:, 0])  # (n, t') or, for (channel, time) instances, (n, c, t')
        else:
            grad = grad.detach().cpu()
            # A mean over time has the same gradient at any input: check it at a zero series.
            rows = target.take(slice(start, stop))
            at_zero = model.layer_gradient(torch.zeros_like(x[start:stop]), rows, layer).grad
            if (at_zero.detach().cpu() - grad).abs().max() > 1e-4 * grad.abs().max():
                raise ValueError(
                    f"'mil' needs the target score to be the mean over time of layer {layer!r}, "
                    "but its gradient depends on the input (a softmax output?). Explain the "
                    f"logits, or use {_WORKING}."
                )
            maps.append(_class_map(activation, grad, layer))
        outputs.append(output)
        progress.advance(stop - start)
    layer_map = torch.cat(maps)
    _, n_channels, n_timepoints = x.shape
    centres, how = layer_centers(model, layer, n_channels, n_timepoints, batch_size)
    exact = pooling != "attention"
    attributions = to_input_time(layer_map, centres, n_timepoints)
    result = MethodResult(
        attributions if attributions.dim() == 3 else attributions[:, None, :],
        extras={
            "layer": layer,
            "alignment": how,
            "layer_centers": centres,
            "pooling": pooling,
            "exact": exact,
            "class_agnostic": not exact,
        },
        case_extras={"layer_map": layer_map},
    )
    result.output = concatenate(outputs)
    return result
