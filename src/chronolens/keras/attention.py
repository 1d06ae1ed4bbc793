"""Additive (Bahdanau) attention over time as two Keras 3 layers, on every backend.

``AttentionWeights`` maps states ``(n, t, d)`` to weights ``(n, t, 1)``:
``softmax_t(v . tanh(W h_t + b))``, the maths of :class:`chronolens.zoo.AdditiveAttention`
(``score`` = W, b; ``energy`` = v). ``AttentionPooling`` maps ``[states, weights]`` to the context
``(n, d)``. Two layers so the weights are a layer's output (named ``attention_weights`` by
default), which ``explain(method="attention")`` reads::

    states = keras.layers.Bidirectional(keras.layers.LSTM(32, return_sequences=True))(inputs)
    weights = AttentionWeights(32)(states)
    logits = keras.layers.Dense(n_classes)(AttentionPooling()([states, weights]))
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="chronolens")
class AttentionWeights(keras.layers.Layer):
    """Attention weights ``(n, t, 1)`` of states ``(n, t, d)``; they sum to 1 over time.

    Parameters
    ----------
    units : int
        Width of the attention's hidden layer.
    """

    def __init__(self, units: int, name: str = "attention_weights", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"`units`={units!r} must be a positive integer.")
        self.units = units
        self.score = keras.layers.Dense(units, activation="tanh", name="score")
        self.energy = keras.layers.Dense(1, use_bias=False, name="energy")

    def build(self, input_shape: Any) -> None:
        """Build the two dense layers for states of shape ``(n, t, d)``."""
        self.score.build(input_shape)
        self.energy.build((*input_shape[:-1], self.units))

    def call(self, states: Any) -> Any:
        """Return the weights ``(n, t, 1)``."""
        return keras.ops.softmax(self.energy(self.score(states)), axis=1)

    def get_config(self) -> dict[str, Any]:
        """The layer's configuration (for ``.keras`` files)."""
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="chronolens")
class AttentionPooling(keras.layers.Layer):
    """The context ``sum_t weights_t * states_t`` of ``[states (n, t, d), weights (n, t, 1)]``."""

    def call(self, inputs: Any) -> Any:
        """Return the context ``(n, d)``."""
        states, weights = inputs
        return keras.ops.sum(states * weights, axis=1)
