"""A plain-torch twin of a Keras chain on the torch backend: the same network, torch's layers.

Every Keras layer call on the torch backend carries the backend's own work (channels-last
transposes around each convolution, dtype and layout checks), and the exact incremental
occlusion engine reads torch layers only. For the common case, a Sequential or functional chain
of ``Conv1D`` / ``BatchNormalization`` / activations / ``MaxPooling1D`` / ``AveragePooling1D`` /
global pooling / ``Flatten`` / ``Dense`` / dropout layers on channels-last series, this module
builds the same network from ``torch.nn`` layers, channels first:

- ``Conv1D`` kernels ``(k, in, out)`` become ``Conv1d`` weights ``(out, in, k)``; ``"same"``
  padding at stride 1 and ``"causal"`` padding are written out; a layer's ``activation``
  follows it inside an ``nn.Sequential`` named after the Keras layer, so hooks on that name see
  the Keras layer's output;
- ``Flatten`` of ``(t, c)`` followed by ``Dense`` becomes ``nn.Flatten`` of ``(c, t)`` with the
  ``Dense`` kernel's rows permuted from ``t * C + c`` to ``c * T + t``;
- dropout and noise layers are the identity (explanations run at inference).

Each twin is checked against the Keras model on a seeded probe series before it is used (outputs
equal to 1e-4 of their scale), so a model whose ``call`` does anything else keeps the Keras path.
The twin copies the weights; :meth:`KerasTwin.refresh` copies them again whenever a Keras
variable was assigned since (torch counts in-place writes in ``Tensor._version``), so training
the Keras model between calls never leaves a stale twin. The Keras model is never modified.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

#: (module, name of its parameter or buffer, the Keras value in that layout)
Copy = tuple[nn.Module, str, Callable[[], torch.Tensor]]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
}
_IDENTITY = {
    "Dropout",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
}


class _Unsupported(Exception):
    """A layer or setting the twin does not reproduce (the Keras path is kept)."""


def _activation(function: Any, rank: int) -> nn.Module | None:
    name = getattr(function, "__name__", None)
    if name in (None, "linear"):
        return None
    if name == "softmax":
        if rank != 2:
            raise _Unsupported("softmax over time")
        return nn.Softmax(dim=1)
    if name not in _ACTIVATIONS:
        raise _Unsupported(f"activation {name}")
    return _ACTIVATIONS[name]()


def _tensor(
    variable: Any, transform: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> Callable[[], torch.Tensor]:
    """Reads a Keras variable's current value (in torch's layout with ``transform``)."""

    def read() -> torch.Tensor:
        value = variable.value
        return value if transform is None else transform(value)

    return read


def _one(value: Any, name: str) -> int:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(values) != 1:
        raise _Unsupported(name)
    return int(values[0])


class _Builder:
    """Translates the layers one by one, tracking the rank and channels of the tensor."""

    def __init__(self, n_channels: int) -> None:
        self.rank, self.channels = 3, n_channels
        self.modules: OrderedDict[str, nn.Module] = OrderedDict()
        self.copies: list[Copy] = []
        self.flattened_from: tuple[int, int] | None = None  # (C, T) of a pending Flatten

    def add(self, name: str, parts: list[nn.Module | None]) -> None:
        kept = [p for p in parts if p is not None]
        if "." in name or not name or name in self.modules:
            raise _Unsupported(f"layer name {name!r}")
        self.modules[name] = kept[0] if len(kept) == 1 else nn.Sequential(*kept)

    def copy(self, module: nn.Module, name: str, source: Callable[[], torch.Tensor]) -> None:
        self.copies.append((module, name, source))

    def conv(self, layer: Any) -> None:
        if self.rank != 3 or layer.data_format != "channels_last":
            raise _Unsupported("Conv1D layout")
        k, stride = _one(layer.kernel_size, "kernel"), _one(layer.strides, "strides")
        dilation, groups = _one(layer.dilation_rate, "dilation"), int(layer.groups)
        pad: nn.Module | None = None
        padding: int | str = 0
        if layer.padding == "same" and stride == 1:
            padding = "same" if (k - 1) * dilation % 2 else (k - 1) * dilation // 2
        elif layer.padding == "causal":
            pad = nn.ConstantPad1d(((k - 1) * dilation, 0), 0.0)
        elif layer.padding != "valid":
            raise _Unsupported("same padding with strides")
        conv = nn.Conv1d(
            self.channels, layer.filters, k, stride, padding, dilation, groups, layer.use_bias
        )
        self.copy(conv, "weight", _tensor(layer.kernel, lambda w: w.permute(2, 1, 0)))
        if layer.use_bias:
            self.copy(conv, "bias", _tensor(layer.bias))
        self.channels = int(layer.filters)
        self.add(layer.name, [pad, conv, _activation(layer.activation, 3)])

    def batch_norm(self, layer: Any) -> None:
        axis = layer.axis if isinstance(layer.axis, int) else _one(layer.axis, "axis")
        if axis not in (-1, self.rank - 1) or self.flattened_from is not None:
            raise _Unsupported("BatchNormalization axis")
        norm = nn.BatchNorm1d(self.channels, eps=float(layer.epsilon)).eval()
        self.copy(norm, "running_mean", _tensor(layer.moving_mean))
        self.copy(norm, "running_var", _tensor(layer.moving_variance))
        if layer.scale:
            self.copy(norm, "weight", _tensor(layer.gamma))
        if layer.center:
            self.copy(norm, "bias", _tensor(layer.beta))
        self.add(layer.name, [norm])

    def pool(self, layer: Any, kind: str) -> None:
        if self.rank != 3 or layer.data_format != "channels_last" or layer.padding != "valid":
            raise _Unsupported("pooling padding or layout")
        size, stride = _one(layer.pool_size, "pool"), _one(layer.strides, "strides")
        module = nn.MaxPool1d(size, stride) if kind == "max" else nn.AvgPool1d(size, stride)
        self.add(layer.name, [module])

    def global_pool(self, layer: Any, kind: str) -> None:
        if self.rank != 3 or layer.data_format != "channels_last" or layer.keepdims:
            raise _Unsupported("global pooling layout")
        pool = nn.AdaptiveMaxPool1d(1) if kind == "max" else nn.AdaptiveAvgPool1d(1)
        self.rank = 2
        self.add(layer.name, [pool, nn.Flatten()])

    def flatten(self, layer: Any) -> None:
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise _Unsupported("Flatten layout")
        if self.rank == 3:
            self.flattened_from = (self.channels, -1)
            self.rank = 2
        self.add(layer.name, [nn.Flatten()])

    def dense(self, layer: Any) -> None:
        if self.rank != 2:
            raise _Unsupported("Dense over time")
        rows = int(layer.kernel.shape[0])
        linear = nn.Linear(rows, int(layer.units), bias=layer.use_bias)
        if self.flattened_from is not None:  # Keras rows t * C + c -> torch rows c * T + t
            c = self.flattened_from[0]
            order = torch.arange(rows).reshape(rows // c, c).T.reshape(-1)
            self.copy(linear, "weight", _tensor(layer.kernel, lambda w: w[order].T))
            self.flattened_from = None
        else:
            self.copy(linear, "weight", _tensor(layer.kernel, lambda w: w.T))
        if layer.use_bias:
            self.copy(linear, "bias", _tensor(layer.bias))
        self.channels = int(layer.units)
        self.add(layer.name, [linear, _activation(layer.activation, 2)])

    def activation(self, layer: Any) -> None:
        kind = type(layer).__name__
        if kind == "Activation":
            module = _activation(layer.activation, self.rank)
        elif kind == "ReLU":
            if layer.max_value is not None or layer.negative_slope or layer.threshold:
                raise _Unsupported("ReLU options")
            module = nn.ReLU()
        elif kind == "LeakyReLU":
            module = nn.LeakyReLU(float(layer.negative_slope))
        elif kind == "Softmax":
            if self.rank != 2 or layer.axis not in (-1, 1):
                raise _Unsupported("softmax over time")
            module = nn.Softmax(dim=1)
        else:
            raise _Unsupported(kind)
        self.add(layer.name, [module or nn.Identity()])

    def layer(self, layer: Any) -> None:
        kind = type(layer).__name__
        policy = getattr(getattr(layer, "dtype_policy", None), "name", "float32")
        if policy != "float32" or getattr(layer, "lora_enabled", False):
            raise _Unsupported(f"dtype policy {policy}")
        steps: dict[str, Callable[[], None]] = {
            "Conv1D": lambda: self.conv(layer),
            "BatchNormalization": lambda: self.batch_norm(layer),
            "MaxPooling1D": lambda: self.pool(layer, "max"),
            "AveragePooling1D": lambda: self.pool(layer, "avg"),
            "GlobalAveragePooling1D": lambda: self.global_pool(layer, "avg"),
            "GlobalMaxPooling1D": lambda: self.global_pool(layer, "max"),
            "Flatten": lambda: self.flatten(layer),
            "Dense": lambda: self.dense(layer),
        }
        if kind == "InputLayer":
            return
        if kind in _IDENTITY:
            self.add(layer.name, [nn.Identity()])
        elif kind in steps:
            steps[kind]()
        elif kind in ("Activation", "ReLU", "LeakyReLU", "Softmax"):
            self.activation(layer)
        else:
            raise _Unsupported(kind)


def _stored(variable: Any) -> torch.Tensor:
    """The tensor a Keras variable holds (its ``value`` property adds autocast checks)."""
    value = getattr(variable, "_value", None)
    return value if isinstance(value, torch.Tensor) else variable.value


class KerasTwin:
    """A torch ``nn.Sequential`` computing what a Keras chain computes, kept in step with it.

    Attributes
    ----------
    module : torch.nn.Sequential
        The twin, channels first, in eval mode; its children are named after the Keras layers.
    """

    def __init__(self, module: nn.Sequential, copies: list[Copy], variables: list[Any]) -> None:
        self.module = module
        self._copies = copies
        self._variables = variables
        self._key: tuple[Any, ...] = ()
        self.refresh()

    def _current_key(self) -> tuple[Any, ...]:
        values = [_stored(v) for v in self._variables]
        return tuple((id(value), value._version) for value in values)

    def refresh(self) -> None:
        """Copy the Keras weights again if any was assigned since the last copy."""
        key = self._current_key()
        if key == self._key:
            return
        with torch.no_grad():
            for module, name, source in self._copies:
                target = getattr(module, name)
                target.copy_(source().detach().to(device=target.device, dtype=target.dtype))
        self._key = key


_TWINS: weakref.WeakKeyDictionary[Any, tuple[tuple[int, ...], KerasTwin | None]] = (
    weakref.WeakKeyDictionary()
)


def _probe(model: Any, twin: nn.Sequential, n_timepoints: int, n_channels: int) -> bool:
    """Whether the twin's output equals the Keras model's on a seeded series (1e-4 of scale)."""
    x = np.random.default_rng(0).standard_normal((2, n_timepoints, n_channels))
    device = next((p.device for p in twin.parameters()), torch.device("cpu"))
    x_keras = torch.as_tensor(x, dtype=torch.float32, device=device)
    try:
        with torch.no_grad():
            expected = model(x_keras, training=False)
            got = twin(x_keras.transpose(1, 2).contiguous())
    except Exception:
        return False
    expected = torch.as_tensor(expected).detach().float()
    if expected.shape != got.shape:
        return False
    scale = max(float(expected.abs().max()), 1e-6)
    return float((expected - got).abs().max()) <= 1e-4 * scale


def keras_twin(model: Any) -> KerasTwin | None:
    """The checked torch twin of a Keras chain on the torch backend, or None (kept per model)."""
    layers = tuple(id(layer) for layer in model.layers)
    known = _TWINS.get(model)
    if known is not None and known[0] == layers:
        if known[1] is not None:
            known[1].refresh()
        return known[1]
    try:
        twin = _build(model)
    except _Unsupported:
        twin = None
    _TWINS[model] = (layers, twin)
    return twin


def _build(model: Any) -> KerasTwin | None:
    if type(model).__name__ not in ("Sequential", "Functional"):  # subclassed: its own call
        return None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return None
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 3 or shape[2] is None:
        return None
    builder = _Builder(int(shape[2]))
    for layer in model.layers:
        builder.layer(layer)
    if not builder.modules:
        return None
    device = next((v.value.device for v in model.weights), torch.device("cpu"))
    module = nn.Sequential(builder.modules).to(device).eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    twin = KerasTwin(module, builder.copies, list(model.weights))
    n_timepoints = shape[1] if shape[1] is not None else 256
    return twin if _probe(model, twin.module, int(n_timepoints), int(shape[2])) else None
