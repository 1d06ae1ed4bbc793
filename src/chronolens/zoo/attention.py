"""A recurrent classifier with additive attention over time (PyTorch).

:func:`attention_rnn` builds :class:`AttentionRNN`: a (bidirectional) LSTM or GRU reads the series
``(n, c, t)`` step by step, additive (Bahdanau-style) attention scores every hidden state,

    e_s = v^T tanh(W h_s + b),    a = softmax_s(e),    z = sum_s a_s h_s,

and a linear layer maps the context ``z`` to the logits. The weights ``a`` of shape ``(n, 1, t)``
pass through an ``nn.Identity`` named ``attention_weights`` before they are used, so any tool reads
them with ``model.layer_output(x, "attention.attention_weights")``; ``explain(method="attention")``
finds that layer by its name.

References
----------
Bahdanau, Cho, Bengio (2015). Neural machine translation by jointly learning to align and
translate. ICLR.
"""

from __future__ import annotations

import torch
from torch import nn

from chronolens._validation import check_int
from chronolens.zoo.architectures import _seeded

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class AdditiveAttention(nn.Module):
    """Additive attention pooling of ``(n, t, d)`` hidden states into ``(n, d)``.

    ``score`` (Linear d -> units), tanh, ``energy`` (Linear units -> 1, no bias), softmax over
    time; the weights ``(n, 1, t)`` go through ``attention_weights`` (an identity) before pooling.
    """

    def __init__(self, features: int, units: int) -> None:
        super().__init__()
        self.score = nn.Linear(features, units)
        self.energy = nn.Linear(units, 1, bias=False)
        self.attention_weights = nn.Identity()

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Pool ``(n, t, d)`` states into the ``(n, d)`` context."""
        energy = self.energy(torch.tanh(self.score(states)))  # (n, t, 1)
        weights = self.attention_weights(torch.softmax(energy, dim=1).transpose(1, 2))
        return torch.bmm(weights, states).squeeze(1)  # (n, d)


class AttentionRNN(nn.Module):
    """``rnn`` (LSTM or GRU over time) -> ``attention`` (:class:`AdditiveAttention`) -> ``fc``."""

    def __init__(self, rnn: nn.LSTM | nn.GRU, attention: AdditiveAttention, fc: nn.Linear) -> None:
        super().__init__()
        self.rnn = rnn
        self.attention = attention
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, n_classes)`` of a series ``(n, c, t)``."""
        states, _ = self.rnn(x.transpose(1, 2))  # (n, t, d)
        return self.fc(self.attention(states))


def attention_rnn(
    n_channels: int,
    n_classes: int,
    *,
    hidden: int = 64,
    cell: str = "lstm",
    bidirectional: bool = True,
    layers: int = 1,
    attention_units: int | None = None,
    dropout: float = 0.0,
    seed: int = 0,
) -> AttentionRNN:
    """A (bidirectional) LSTM or GRU with additive attention over its hidden states.

    Parameters
    ----------
    n_channels, n_classes : int
        Input channels and number of classes. Input is ``(n, n_channels, n_timepoints)`` of any
        length.
    hidden : int, default=64
        Hidden size of the recurrent cell (per direction).
    cell : {"lstm", "gru"}, default="lstm"
    bidirectional : bool, default=True
    layers : int, default=1
        Stacked recurrent layers.
    attention_units : int, optional
        Width of the attention's hidden layer; default ``hidden``.
    dropout : float, default=0.0
        Dropout between stacked recurrent layers (``layers > 1``).
    seed : int, default=0
        Seed of the weight initialisation (torch's global random state is left untouched).

    Returns
    -------
    AttentionRNN
        Named layers ``rnn``, ``attention`` (with ``attention.score``, ``attention.energy``,
        ``attention.attention_weights``: the weights ``(n, 1, t)``) and ``fc``.
    """
    check_int(n_channels, "n_channels", minimum=1)
    check_int(n_classes, "n_classes", minimum=2)
    check_int(hidden, "hidden", minimum=1)
    check_int(layers, "layers", minimum=1)
    if cell not in _CELLS:
        raise ValueError(f"`cell`={cell!r} is not known; use 'lstm' or 'gru'.")
    units = hidden if attention_units is None else attention_units
    check_int(units, "attention_units", minimum=1)
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"`dropout`={dropout!r} must be in [0, 1).")
    features = hidden * (2 if bidirectional else 1)

    def build() -> AttentionRNN:
        rnn = _CELLS[cell](
            n_channels,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bool(bidirectional),
            dropout=float(dropout) if layers > 1 else 0.0,
        )
        return AttentionRNN(rnn, AdditiveAttention(features, units), nn.Linear(features, n_classes))

    return _seeded(seed, build)
