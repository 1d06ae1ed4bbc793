"""MILLET's multiple-instance head as one Keras 3 layer, on every backend.

``MILPooling(n_classes, pooling)`` maps features ``(n, t', d)`` (the output of the user's
convolutional stack) to bag logits ``(n, n_classes)``, so it replaces ``Flatten -> Dense``::

    x = keras.layers.Conv1D(64, 7, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv1D(64, 5, padding="same", activation="relu")(x)
    logits = MILPooling(n_classes, pooling="conjunctive")(x)

The maths is :class:`chronolens.zoo.MILHead`'s (MILLET, Early et al., ICLR 2024): the fixed
sinusoidal positional encoding of each position is added, dropout is applied (training only),
and with ``z_t`` the instances, ``a_t = sigmoid(v . tanh(W z_t + b) + c)`` the attention
(sub-layers ``attention_hidden``, ``attention_score``) and ``C`` the classifier (``classifier``):

- ``"instance"``: logits ``mean_t C(z_t)``;
- ``"conjunctive"``: ``mean_t a_t C(z_t)``;
- ``"additive"`` and ``"attention"``: ``mean_t C(a_t z_t)``.

:meth:`MILPooling.interpretation` returns the per-position class contributions ``(n, t', k)``
whose mean over time is the logits exactly (the classifier's bias inside every position), or the
attention ``(n, t', 1)`` for attention pooling. ``explain(model, x, "mil", layout="nlc")`` finds
the layer, reads its input through the layer feeding it (a functional or Sequential model) and
calls this method.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

POOLINGS = ("instance", "attention", "additive", "conjunctive")


def sinusoidal_encoding(n_positions: int, d_model: int) -> np.ndarray:
    """The fixed encoding ``(n_positions, d_model)`` (float32), computed in float64.

    Column ``2j`` holds ``sin(p / 10000^(2j / d_model))`` and column ``2j + 1`` holds ``cos`` of
    the same angle at position ``p`` (Vaswani et al. 2017), as :func:`chronolens.zoo.mil`.
    """
    position = np.arange(n_positions, dtype=np.float64)[:, None]
    rate = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(1e4) / d_model))
    angle = position * rate[None, :]
    pe = np.zeros((n_positions, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe.astype(np.float32)


def _symbolic_encoding(features: Any, d_model: int) -> Any:
    """The same encoding in Keras ops, for a time axis whose length is known only at run time."""
    ops = keras.ops
    half = (d_model + 1) // 2
    rate = np.exp(np.arange(0, d_model, 2) * (-math.log(1e4) / d_model)).astype(np.float32)
    position = ops.cast(ops.arange(ops.shape(features)[1]), "float32")[:, None]
    angle = position * rate[None, :]
    pe = ops.reshape(ops.stack([ops.sin(angle), ops.cos(angle)], axis=-1), (-1, 2 * half))
    return pe[:, :d_model]


@keras.saving.register_keras_serializable(package="chronolens")
class MILPooling(keras.layers.Layer):
    """MILLET pooling head: features ``(n, t', d)`` -> bag logits ``(n, n_classes)``.

    Parameters
    ----------
    n_classes : int
    pooling : {"conjunctive", "instance", "additive", "attention"}, default="conjunctive"
    d_attn : int, default=8
        Hidden width of the attention head (unused by instance pooling).
    dropout : float, default=0.1
        Dropout on the instances after the positional encoding (only when training).
    positional_encoding : bool, default=True
        Add the fixed sinusoidal encoding of each position to its features.
    """

    def __init__(
        self,
        n_classes: int,
        pooling: str = "conjunctive",
        *,
        d_attn: int = 8,
        dropout: float = 0.1,
        positional_encoding: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"`n_classes`={n_classes!r} must be a positive integer.")
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {', '.join(POOLINGS)}; got {pooling!r}.")
        if isinstance(d_attn, bool) or not isinstance(d_attn, int) or d_attn < 1:
            raise ValueError(f"`d_attn`={d_attn!r} must be a positive integer.")
        if isinstance(dropout, bool) or not (isinstance(dropout, float | int) and 0 <= dropout < 1):
            raise ValueError(f"`dropout` must be a number in [0, 1); got {dropout!r}.")
        if not isinstance(positional_encoding, bool):
            raise ValueError(
                f"`positional_encoding` must be True or False; got {positional_encoding!r}."
            )
        self.n_classes = n_classes
        self.pooling = pooling
        self.d_attn = d_attn
        self.dropout_rate = float(dropout)
        self.positional_encoding = positional_encoding
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")
        self.classifier = keras.layers.Dense(n_classes, name="classifier")
        if pooling != "instance":
            self.attention_hidden = keras.layers.Dense(d_attn, "tanh", name="attention_hidden")
            self.attention_score = keras.layers.Dense(1, "sigmoid", name="attention_score")

    def build(self, input_shape: Any) -> None:
        """Build the sub-layers for features of shape ``(n, t', d)``."""
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"MILPooling takes features (batch, time, filters) with a known number of "
                f"filters; got shape {tuple(input_shape)}. Put it after a Conv1D (or another "
                "layer keeping the time axis), in place of Flatten -> Dense."
            )
        self.d_model = int(input_shape[-1])
        self.classifier.build(input_shape)
        if self.pooling != "instance":
            self.attention_hidden.build(input_shape)
            self.attention_score.build((*input_shape[:-1], self.d_attn))

    def _encode(self, features: Any) -> Any:
        if not self.positional_encoding:
            return features
        n_positions = features.shape[1]
        if isinstance(n_positions, int):
            pe = keras.ops.convert_to_tensor(sinusoidal_encoding(n_positions, self.d_model))
        else:
            pe = _symbolic_encoding(features, self.d_model)
        return features + keras.ops.cast(pe, features.dtype)[None]

    def _contributions(self, features: Any, training: Any = None) -> Any:
        z = self.dropout(self._encode(features), training=training)
        if self.pooling == "instance":
            return self.classifier(z)
        weights = self.attention_score(self.attention_hidden(z))
        if self.pooling == "conjunctive":
            return weights * self.classifier(z)
        return self.classifier(z * weights)  # mean over time: W mean(a z) + b exactly

    def call(self, features: Any, training: Any = None) -> Any:
        """Return the bag logits ``(n, n_classes)``: the mean over time of the contributions."""
        return keras.ops.mean(self._contributions(features, training), axis=1)

    def interpretation(self, features: Any) -> Any:
        """Per-position class contributions ``(n, t', n_classes)`` (inference, no dropout).

        Their mean over time is the bag logits exactly. For attention pooling, the attention
        weights ``(n, t', 1)`` instead (the same for every class).
        """
        if self.pooling == "attention":
            return self.attention_score(self.attention_hidden(self._encode(features)))
        return self._contributions(features, training=False)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        """``(batch, n_classes)``."""
        return (input_shape[0], self.n_classes)

    def get_config(self) -> dict[str, Any]:
        """The layer's configuration (for ``.keras`` files)."""
        return {
            **super().get_config(),
            "n_classes": self.n_classes,
            "pooling": self.pooling,
            "d_attn": self.d_attn,
            "dropout": self.dropout_rate,
            "positional_encoding": self.positional_encoding,
        }
