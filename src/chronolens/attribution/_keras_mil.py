"""The interpretation of a Keras :class:`chronolens.keras.MILPooling` head, for ``method="mil"``.

A Keras model's interpretation is not the output of one of its layers: it is computed by the
head's ``interpretation`` method from the head's input, the output of the layer feeding it,
which the adapter reads like any layer (``model.layer_output``, chronolens layout). Keras is never
imported here: a model holding the layer has imported it already.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from chronolens.models.base import Model


@dataclass(frozen=True)
class KerasHead:
    """A MILPooling layer of a Keras model: the layer, its name and the layer feeding it."""

    layer: Any
    name: str
    source: str
    pooling: str


def _pooling_class() -> Any:
    module = sys.modules.get("chronolens.keras.mil")
    return None if module is None else module.MILPooling


def find_keras_head(model: Model) -> KerasHead | None:
    """The model's MILPooling head, None when the model is not a Keras model holding one."""
    keras_model, cls = getattr(model, "model", None), _pooling_class()
    if cls is None or not isinstance(keras_model, sys.modules["keras"].Model):
        return None
    names = set(model.layers())
    heads: list[Any] = [layer for layer in keras_model.layers if isinstance(layer, cls)]
    if not heads:
        return None
    if len(heads) > 1:
        raise ValueError(
            f"This Keras model has several MILPooling layers ({', '.join(h.name for h in heads)}); "
            "'mil' reads a model with one."
        )
    head = heads[0]
    try:
        operation = head.input._keras_history.operation  # the first call's input
    except (AttributeError, ValueError, IndexError):
        operation = None
    if operation is None or operation.name not in names:
        raise ValueError(
            f"'mil' reads the input of the Keras layer {head.name!r} through the layer feeding "
            "it, and cannot find that layer (a subclassed model, or a MILPooling on the model's "
            "input itself). Build the model with the functional or Sequential API, with "
            "MILPooling after a layer of the model."
        )
    return KerasHead(head, head.name, operation.name, head.pooling)


def interpretation(head: KerasHead, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(interpretation (n, k, t'), logits (n, k))`` of features ``(n, d, t')`` (chronolens).

    Both from the layer itself (inference), in float32 as the model computes them.
    """
    ops = sys.modules["keras"].ops
    inputs = ops.convert_to_tensor(np.ascontiguousarray(features.numpy().transpose(0, 2, 1)))
    values = head.layer.interpretation(inputs)
    logits = head.layer(inputs, training=False)
    as_torch = [
        torch.from_numpy(np.array(ops.convert_to_numpy(v))).float() for v in (values, logits)
    ]
    return as_torch[0].transpose(1, 2), as_torch[1]
