"""The LRP layer table of a Keras 3 model on the torch backend.

On that backend every Keras layer is a ``torch.nn.Module`` called through ``nn.Module.__call__``,
so the engine's forward hooks apply to it unchanged; only the layer's own arithmetic differs
from torch's: ``Conv1D`` / ``Conv2D`` compute ``convolution_op(x, kernel) + bias`` channels
last (kernel ``(k, in, out)``), ``Dense`` computes ``x @ kernel + bias`` (kernel ``(in, out)``),
so the output channels sit on the kernel's last axis, where a merged ``BatchNormalization``
scales them. A convolution or dense layer with an activation of its own is its affine map
followed by that activation, which passes relevance through unchanged, as an activation layer
does. Keras is imported only here, and only for a Keras model.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from chronolens.attribution._lrp_canonize import NormStats
from chronolens.attribution._lrp_layers import Layer, refuse
from chronolens.attribution._lrp_rules import LinearView

#: Activation functions relevance passes through unchanged (in a layer or an activation layer).
PASSING = {
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "swish",
    "softplus",
    "hard_tanh",
    "tanh",
    "sigmoid",
}


def _value(variable: Any) -> torch.Tensor:
    value = getattr(variable, "value", variable)
    return torch.as_tensor(value).detach()


def _conv_view(layer: Any) -> tuple[LinearView, int]:
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"

    def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        z = layer.convolution_op(x, weight)
        if bias is None:
            return z
        return z + (bias if channels_last else bias.reshape(-1, *(1,) * (z.ndim - 2)))

    bias = _value(layer.bias) if layer.use_bias else None
    return LinearView(forward, _value(layer.kernel), bias), -1


def _dense_view(layer: Any) -> tuple[LinearView, int]:
    def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        z = torch.matmul(x, weight)
        return z if bias is None else z + bias

    bias = _value(layer.bias) if layer.use_bias else None
    return LinearView(forward, _value(layer.kernel), bias), -1


def _norm_stats(layer: Any) -> NormStats:
    return NormStats(
        _value(layer.moving_mean),
        _value(layer.moving_variance),
        float(layer.epsilon),
        _value(layer.gamma) if layer.scale else None,
        _value(layer.beta) if layer.center else None,
    )


def _check_activation(layer: Any, name: str) -> None:
    activation = getattr(layer, "activation", None)
    label = getattr(activation, "__name__", str(activation))
    if activation is not None and label not in PASSING:
        hint = " Explain the logits instead: drop the final softmax." if "softmax" in label else ""
        raise refuse(name, f"{type(layer).__name__} with activation {label!r}", hint)


def keras_layers(root: Any) -> list[Layer]:
    """The :class:`Layer` table of a Keras model; raises for a layer without a rule."""
    import keras

    kl = keras.layers
    gradient = (
        kl.InputLayer,
        kl.MaxPooling1D,
        kl.MaxPooling2D,
        kl.GlobalMaxPooling1D,
        kl.GlobalMaxPooling2D,
        kl.Flatten,
        kl.Reshape,
        kl.Permute,
        kl.Dropout,
        kl.SpatialDropout1D,
        kl.Identity,
    )
    pools = (
        kl.AveragePooling1D,
        kl.AveragePooling2D,
        kl.GlobalAveragePooling1D,
        kl.GlobalAveragePooling2D,
    )
    table = []
    for layer in root._flatten_layers(include_self=False, recursive=True):
        name = layer.name
        if isinstance(layer, keras.Model) or isinstance(layer, gradient):
            continue  # a nested model is a container; the others hand relevance on as gradient
        if isinstance(layer, (kl.Conv1D, kl.Conv2D)):
            _check_activation(layer, name)
            view = partial(_conv_view, layer)
            table.append(Layer(name, layer, "affine", convolution=True, view=view))
        elif isinstance(layer, kl.Dense):
            _check_activation(layer, name)
            table.append(Layer(name, layer, "affine", view=partial(_dense_view, layer)))
        elif isinstance(layer, kl.BatchNormalization):
            if layer.axis not in (-1, [-1], (-1,)):  # merged on the kernels' last axis
                raise refuse(name, f"BatchNormalization over axis {layer.axis}, not the last")
            table.append(Layer(name, layer, "pass", stats=partial(_norm_stats, layer)))
        elif isinstance(layer, (kl.Activation, kl.ReLU, kl.LeakyReLU, kl.ELU, kl.PReLU)):
            _check_activation(layer, name)
            table.append(Layer(name, layer, "pass"))
        elif isinstance(layer, pools):
            table.append(Layer(name, layer, "pool", forward=layer.call))
        elif isinstance(layer, kl.Add):
            table.append(Layer(name, layer, "sum"))  # the sum rule, as at a torch addition
        else:
            raise refuse(name, f"Keras {type(layer).__name__}")
    return table
