"""Receptive-field centres of a Keras layer from the configs of the layers before it.

Known when the path from the model's input to the layer is a chain of single-input layers made
of 1-D convolutions, pools, padding/cropping and point-wise layers; None otherwise (the caller
then measures the centres by probing, see :mod:`chronolens.attribution._receptive_field`). The
geometry follows :mod:`chronolens.models._geometry`; Keras' "same" padding puts the smaller half
of the padding on the left (as TensorFlow does, and Keras' other backends copy), "causal" puts
all of it there.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

CONVOLUTIONS = ("Conv1D", "SeparableConv1D", "DepthwiseConv1D")
POOLS = ("MaxPooling1D", "AveragePooling1D")
# Layers that keep every time position where it is.
POINTWISE = (
    "BatchNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Dropout",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "Identity",
)


def _first(value: Any) -> int:
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def _padding(mode: str, length: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """Return (left padding, output length) of a Keras 1-D window layer."""
    span = dilation * (kernel - 1) + 1
    if mode == "valid":
        return 0, (length - span) // stride + 1
    if mode == "causal":
        return span - 1, (length - 1) // stride + 1
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, out


def layer_step(layer: Any, length: int) -> tuple[int, int, int, int] | None:
    """Return (kernel span, stride, left padding, output length) of a layer, or None if unknown.

    Reads the layer's attributes rather than ``get_config()``, which makes Keras import
    TensorFlow when it is installed.
    """
    kind = type(layer).__name__
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return None
    if kind in POINTWISE:
        return 1, 1, 0, length
    if kind in CONVOLUTIONS:
        kernel, stride = _first(layer.kernel_size), _first(layer.strides)
        dilation = _first(getattr(layer, "dilation_rate", 1))
        left, out = _padding(layer.padding, length, kernel, stride, dilation)
        return dilation * (kernel - 1) + 1, stride, left, out
    if kind in POOLS:
        kernel = _first(layer.pool_size)
        stride = _first(layer.strides or kernel)
        left, out = _padding(layer.padding, length, kernel, stride, 1)
        return kernel, stride, left, out
    if kind == "ZeroPadding1D":
        padding = layer.padding
        pair = padding if isinstance(padding, (tuple, list)) else (padding, padding)
        left, right = int(pair[0]), int(pair[1])
        return 1, 1, left, length + left + right
    if kind == "Cropping1D":
        left, right = (int(v) for v in layer.cropping)
        return 1, 1, -left, length - left - right
    return None


def _inputs_of(tensor: Any) -> tuple[Any, list[Any]]:
    """The layer that produced a symbolic tensor, and that call's input tensors."""
    history = tensor._keras_history
    node = history.operation._inbound_nodes[history.node_index]
    return history.operation, list(node.input_tensors)


def graph_output(model: Any, layer: Any) -> Any | None:
    """The symbolic output of ``layer`` inside ``model``'s own graph, or None.

    ``layer.output`` is the output of the layer's first call, which belongs to another graph
    when the layer was called more than once (a Sequential model rebuilt on loading, say).
    """
    try:
        stack = list(model.outputs)
    except (AttributeError, ValueError):
        return None
    seen: set[int] = set()
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen or not hasattr(tensor, "_keras_history"):
            continue
        seen.add(id(tensor))
        operation, inputs = _inputs_of(tensor)
        if operation is layer:
            return tensor
        stack.extend(inputs)
    return None


def _inputs(model: Any) -> list[Any] | None:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    return list(inputs) if inputs else None


def chain_to(model: Any, layer: Any) -> list[Any] | None:
    """The single-input layers from the model's input to ``layer`` (inclusive), or None."""
    inputs = _inputs(model)
    tensor = graph_output(model, layer)
    if inputs is None or len(inputs) != 1 or tensor is None:
        return None
    chain = []
    while tensor is not inputs[0]:
        operation, parents = _inputs_of(tensor)
        if type(operation).__name__ == "InputLayer":
            break
        if len(parents) != 1:
            return None  # a merge: the receptive field is not a single chain's
        chain.append(operation)
        tensor = parents[0]
    return chain[::-1]


def _chain_geometry(
    model: Any, layer: Any, n_timepoints: int
) -> tuple[float, float, float, int] | None:
    """``(first centre, jump, field width, n_positions)`` of ``layer``'s output, or None."""
    chain = chain_to(model, layer)
    if chain is None:
        return None
    centre, jump, width, length = 0.0, 1.0, 1.0, n_timepoints
    for step_layer in chain:
        step = layer_step(step_layer, length)
        if step is None:
            return None
        span, stride, left, length = step
        centre += jump * ((span - 1) / 2 - left)
        width += jump * (span - 1)
        jump *= stride
    return (centre, jump, width, length) if length >= 1 else None


def chain_centers(model: Any, layer: Any, n_timepoints: int) -> np.ndarray | None:
    """Receptive-field centres of ``layer``'s output positions, in input time points."""
    geometry = _chain_geometry(model, layer, n_timepoints)
    if geometry is None:
        return None
    centre, jump, _, length = geometry
    return centre + jump * np.arange(length, dtype=np.float64)


def chain_fields(model: Any, layer: Any, n_timepoints: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Receptive-field bounds of ``layer``'s positions from the layers' configs, or None.

    Returns the first and last input time point of each output position's field (inclusive,
    clipped to the series); None when the chain from the input is unknown.
    """
    geometry = _chain_geometry(model, layer, n_timepoints)
    if geometry is None:
        return None
    centre, jump, width, length = geometry
    start = centre - (width - 1) / 2 + jump * np.arange(length, dtype=np.float64)
    low = np.clip(start, 0, n_timepoints - 1)
    high = np.clip(start + width - 1, 0, n_timepoints - 1)
    return low, high
