"""Adapter for Keras 3 models on the torch, TensorFlow and JAX backends.

Methods hand the adapter torch tensors in the chronolens layout ``(rows, n_channels,
n_timepoints)``; it transposes them to the model's own layout (channels last unless the model's
layers say ``data_format="channels_first"``) and returns activations as ``(rows, filters,
positions)``. ``KerasModel(model)`` returns the adapter for the backend Keras runs on:

- torch backend (:class:`KerasTorchModel`): a Keras model is a ``torch.nn.Module``, so the torch
  adapter does the work (sessions, hooks, the layer table, gradients); this class only supplies
  the layout, the Keras layer names and the ``training=False`` call.
- TensorFlow and JAX (:class:`KerasGraphModel`): gradients by ``tf.GradientTape`` or ``jax.vjp``;
  layer activations from functional sub-models that share the model's layers (functional and
  Sequential models), see :mod:`chronolens.models._keras_graph`.

The explained score is always chosen in torch, so callable targets work on every backend. Models
are always called with ``training=False``; nothing of the model is modified.
"""

from chronolens.models._keras_base import BACKENDS, KerasModel, is_keras_model
from chronolens.models._keras_graph import KerasGraphModel
from chronolens.models._keras_torch import KerasTorchModel

__all__ = ["BACKENDS", "KerasGraphModel", "KerasModel", "KerasTorchModel", "is_keras_model"]
