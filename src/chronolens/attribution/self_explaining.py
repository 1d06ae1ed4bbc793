"""Models that explain themselves: read the interpretation a multiple-instance head computes.

A MILLET head (:func:`chronolens.zoo.mil`, or any model with layers named as it names them) passes
its per-position class contributions ``(n, k, t')`` through a layer named ``interpretation`` and
its attention weights ``(n, 1, t')`` through one named ``attention`` or ``embedding_attention``.
``mil`` reads them through the protocol (``model.layer_gradient``: the interpretation and the
scores of the same forward pass), checks that the target score is the mean over time of the
interpretation (what makes the map an exact decomposition), and carries the map on the layer's
positions to input time through receptive fields, like every CAM. A Keras model's
:class:`chronolens.keras.MILPooling` layer computes its interpretation from its input (see
:mod:`chronolens.attribution._keras_mil`); its positions are those of the layer feeding it.
"""

from __future__ import annotations

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens.attribution._common import concatenate
from chronolens.attribution._keras_mil import KerasHead, find_keras_head
from chronolens.attribution._keras_mil import interpretation as keras_interpretation
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
        "chronolens.zoo.mil(backbone, n_classes) (in Keras: chronolens.keras.MILPooling), or "
        f"explain this model with a post-hoc method such as {_WORKING}."
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


def _torch_chunk(
    model: Model, x: torch.Tensor, rows: Target, layer: str, pooling: str
) -> tuple[torch.Tensor, object]:
    """The map on the head's positions and the output, for a head with named layers (zoo.mil)."""
    _, activation, grad, output = model.layer_gradient(x, rows, layer)
    activation = activation.detach().cpu()
    if pooling == "attention":
        return activation[:, 0], output  # (n, t') or, for (channel, time) instances, (n, c, t')
    grad = grad.detach().cpu()
    # A mean over time has the same gradient at any input: check it at a zero series.
    at_zero = model.layer_gradient(torch.zeros_like(x), rows, layer).grad
    if (at_zero.detach().cpu() - grad).abs().max() > 1e-4 * grad.abs().max():
        raise ValueError(
            f"'mil' needs the target score to be the mean over time of layer {layer!r}, but its "
            "gradient depends on the input (a softmax output?). Explain the logits, or use "
            f"{_WORKING}."
        )
    return _class_map(activation, grad, layer), output


def _logit_weights(rows: Target, logits: torch.Tensor, layer: str) -> torch.Tensor:
    """d(target score) / d(logits), checked to be the same at any logits (a linear target)."""

    def gradient(point: torch.Tensor) -> torch.Tensor:
        point = point.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(rows.select(point).sum(), point)
        return grad

    grad = gradient(logits)
    if (gradient(torch.zeros_like(logits)) - grad).abs().max() > 1e-4 * grad.abs().max():
        raise ValueError(
            f"'mil' needs the target score to be a linear function of the logits of {layer!r} "
            f"(a class's logit), but its gradient depends on them. Explain the logits, or use "
            f"{_WORKING}."
        )
    return grad


def _keras_chunk(
    model: Model, head: KerasHead, x: torch.Tensor, rows: Target
) -> tuple[torch.Tensor, object]:
    """The map on the head's positions and the output, for a Keras MILPooling head."""
    features = model.layer_output(x, head.source).detach().cpu().float()
    values, logits = keras_interpretation(head, features)
    output = model.scores(x)
    scores = torch.as_tensor(output).detach().cpu().float()
    if scores.shape != logits.shape or (scores - logits).abs().max() > 1e-4 * (
        1 + logits.abs().max()
    ):
        raise ValueError(
            f"'mil' needs the model's output to be the logits of its MILPooling layer "
            f"{head.name!r}, but it is not (a softmax or another layer after it?). Make "
            f"MILPooling the last layer and explain its logits, or use {_WORKING}."
        )
    if head.pooling == "attention":
        return values[:, 0], output
    weights = _logit_weights(rows, scores, head.name)
    return (weights[:, :, None] * values).sum(dim=1), output


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
    every class. Signed for the class poolings; in [0, 1] for attention. Reads a
    :func:`chronolens.zoo.mil` head (layers named as it names them) or a Keras
    :class:`chronolens.keras.MILPooling` layer (its positions: those of the layer feeding it).

    References
    ----------
    Early, Cheung, Cutajar, Xie, Kowalski, Ramamoorthy (2024). Inherently interpretable time
    series classification via multiple instance learning. ICLR.
    """
    keras_head = find_keras_head(model)
    if keras_head is None:
        layer, pooling = _find_head(model)
        source = layer
    else:
        layer, pooling, source = keras_head.name, keras_head.pooling, keras_head.source
    maps, outputs = [], []
    progress.start(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        rows = target.take(slice(start, stop))
        if keras_head is None:
            layer_map, output = _torch_chunk(model, x[start:stop], rows, layer, pooling)
        else:
            layer_map, output = _keras_chunk(model, keras_head, x[start:stop], rows)
        maps.append(layer_map)
        outputs.append(output)
        progress.advance(stop - start)
    layer_map = torch.cat(maps)
    _, n_channels, n_timepoints = x.shape
    centres, how = layer_centers(model, source, n_channels, n_timepoints, batch_size)
    if keras_head is not None:
        how = f"{how} (positions of {source!r}, the instances of {layer!r})"
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
