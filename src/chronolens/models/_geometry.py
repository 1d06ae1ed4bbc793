"""Receptive-field geometry of a chain of 1-D layers, from their hyper-parameters.

A chain of convolutions and pools maps position ``j`` of a layer's output to input positions
``start + jump * j ... start + jump * j + size - 1``; the centre of that receptive field is
``start + jump * j + (size - 1) / 2``. Each layer with kernel ``k``, stride ``s``, left padding
``p`` and dilation ``d`` updates the geometry as::

    centre' = centre + jump * (d * (k - 1) / 2 - p)
    jump' = jump * s
    size' = size + jump * d * (k - 1)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from torch import nn

# Layers that keep every time position where it is.
POINTWISE = (
    nn.BatchNorm1d,
    nn.InstanceNorm1d,
    nn.Dropout,
    nn.Dropout1d,
    nn.AlphaDropout,
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Hardswish,
    nn.Hardtanh,
    nn.Hardsigmoid,
)


def as_int(value: Any) -> int:
    """A torch hyper-parameter as one int: ``3`` and ``(3,)`` both give 3 (torch types vary)."""
    return int(value[0]) if isinstance(value, tuple) else int(value)


def conv_params(module: nn.Module) -> tuple[int, int, int, int, int] | None:
    """Return (kernel, stride, left padding, right padding, dilation) of a 1-D layer.

    Reads ``Conv1d``, ``MaxPool1d`` and ``AvgPool1d`` (a pool's stride defaults to its kernel;
    "same" padding puts the smaller half on the left, as torch does); point-wise layers return
    ``(1, 1, 0, 0, 1)``; None for any other layer.
    """
    if isinstance(module, POINTWISE):
        return (1, 1, 0, 0, 1)
    if isinstance(module, nn.Conv1d):
        kernel = as_int(module.kernel_size)
        stride, dilation = as_int(module.stride), as_int(module.dilation)
        if module.padding == "same":
            total = dilation * (kernel - 1)
            left, right = total // 2, total - total // 2
        elif module.padding == "valid":
            left = right = 0
        else:
            left = right = as_int(module.padding)
        return (kernel, stride, left, right, dilation)
    if isinstance(module, (nn.MaxPool1d, nn.AvgPool1d)):
        kernel = as_int(module.kernel_size)
        stride = as_int(module.stride) if module.stride else kernel
        padding = as_int(module.padding)
        dilation = as_int(module.dilation) if isinstance(module, nn.MaxPool1d) else 1
        return (kernel, stride, padding, padding, dilation)
    return None


def layer_step(module: nn.Module) -> tuple[int, int, int, int] | None:
    """Return (kernel, stride, left padding, dilation) of a 1-D layer, or None if unknown.

    Point-wise layers return ``(1, 1, 0, 1)``.
    """
    params = conv_params(module)
    if params is None:
        return None
    kernel, stride, left, _, dilation = params
    return (kernel, stride, left, dilation)


def _chain(module: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """Yield (name, module) for nested ``nn.Sequential`` containers and their leaves, in order."""
    for name, child in module.named_children():
        full = f"{prefix}.{name}" if prefix else name
        if isinstance(child, nn.Sequential):
            yield from _chain(child, full)
        yield full, child


def sequential_centers(model: nn.Module, layer: str, n_positions: int) -> np.ndarray | None:
    """Receptive-field centres of ``layer``'s output positions in input coordinates.

    Returns None unless ``model`` is an ``nn.Sequential`` (possibly nested) whose every leaf up
    to ``layer`` is a convolution, a pool or a point-wise layer.
    """
    if not isinstance(model, nn.Sequential):
        return None
    centre, jump = 0.0, 1.0
    for name, module in _chain(model):
        if not isinstance(module, nn.Sequential):
            step = layer_step(module)
            if step is None:
                return None
            kernel, stride, padding, dilation = step
            centre += jump * (dilation * (kernel - 1) / 2 - padding)
            jump *= stride
        if name == layer:
            return centre + jump * np.arange(n_positions, dtype=np.float64)
    return None
