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


def _pair(value: object) -> int:
    return int(value[0]) if isinstance(value, tuple) else int(value)  # type: ignore[arg-type]


def layer_step(module: nn.Module) -> tuple[int, int, int, int] | None:
    """Return (kernel, stride, left padding, dilation) of a 1-D layer, or None if unknown.

    Point-wise layers return ``(1, 1, 0, 1)``.
    """
    if isinstance(module, POINTWISE):
        return (1, 1, 0, 1)
    if isinstance(module, nn.Conv1d):
        kernel, stride, dilation = (
            _pair(module.kernel_size),
            _pair(module.stride),
            _pair(module.dilation),
        )
        if module.padding == "same":
            padding = dilation * (kernel - 1) // 2
        elif module.padding == "valid":
            padding = 0
        else:
            padding = _pair(module.padding)
        return (kernel, stride, padding, dilation)
    if isinstance(module, (nn.MaxPool1d, nn.AvgPool1d)):
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride) if module.stride else kernel
        dilation = _pair(getattr(module, "dilation", 1))
        return (kernel, stride, _pair(module.padding), dilation)
    return None


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
