"""ExtremalMask's learned perturbation: one bidirectional GRU and a linear readout per case.

The network of Enguehard (2023)'s experiments (time_interpret's ``ExtremalMaskNet`` with an
``RNN(bidirectional=True, rnn="gru")`` followed by a linear layer): a single-layer
bidirectional GRU over time with ``hidden`` units each way, reading the series' channels at
each time point, and a linear map from the ``2 hidden`` states back to the channels. It
outputs the replacement values of every point.

Each case owns a copy of the weights (a leading case axis on every tensor), so cases are
optimised independently and a case's replacement never depends on the other cases. All copies
start from the same draw (``seed``), made with PyTorch's own initialisation of ``nn.GRU`` and
``nn.Linear`` (uniform in +-1 / sqrt(fan)), so a case starts from the same network whether it
is alone or in a batch.
"""

from __future__ import annotations

import math

import torch

#: Parameter names of one direction of the GRU, in PyTorch's naming.
GRU_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def initial_weights(n_channels: int, hidden: int, seed: int) -> dict[str, torch.Tensor]:
    """One draw of the network's weights (no case axis), PyTorch's default initialisation."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(shape: tuple[int, ...], bound: float) -> torch.Tensor:
        return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound

    gru_bound = 1.0 / math.sqrt(hidden)
    shapes = {
        "weight_ih": (3 * hidden, n_channels),
        "weight_hh": (3 * hidden, hidden),
        "bias_ih": (3 * hidden,),
        "bias_hh": (3 * hidden,),
    }
    weights = {}
    for direction in ("", "_reverse"):
        for name in GRU_NAMES:
            weights[name + direction] = uniform(shapes[name], gru_bound)
    readout_bound = 1.0 / math.sqrt(2 * hidden)
    weights["readout_weight"] = uniform((n_channels, 2 * hidden), readout_bound)
    weights["readout_bias"] = uniform((n_channels,), readout_bound)
    return weights


def per_case(weights: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """``n`` independent trainable copies of ``weights`` (a leading case axis)."""
    return {
        name: value.unsqueeze(0).repeat(n, *([1] * value.ndim)).requires_grad_(True)
        for name, value in weights.items()
    }


def _direction(
    inputs: torch.Tensor, weights: dict[str, torch.Tensor], suffix: str, reverse: bool
) -> torch.Tensor:
    """Hidden states ``(n, t, hidden)`` of one direction of the GRU (PyTorch's equations)."""
    w_ih, w_hh = weights["weight_ih" + suffix], weights["weight_hh" + suffix]
    b_ih, b_hh = weights["bias_ih" + suffix], weights["bias_hh" + suffix]
    gates_in = torch.einsum("ngc,nct->ntg", w_ih, inputs) + b_ih[:, None, :]
    n, t = inputs.shape[0], inputs.shape[-1]
    hidden = w_hh.shape[-1]
    state = inputs.new_zeros(n, hidden, 1)
    states: list[torch.Tensor] = [state] * t
    for step in reversed(range(t)) if reverse else range(t):
        gates_h = torch.baddbmm(b_hh[:, :, None], w_hh, state)  # (n, 3 hidden, 1)
        gates_x = gates_in[:, step, :, None]
        reset, update = torch.sigmoid(gates_x[:, : 2 * hidden] + gates_h[:, : 2 * hidden]).chunk(
            2, dim=1
        )
        candidate = torch.tanh(gates_x[:, 2 * hidden :] + reset * gates_h[:, 2 * hidden :])
        state = candidate + update * (state - candidate)
        states[step] = state
    return torch.cat(states, dim=2).transpose(1, 2)


def replacement_values(inputs: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """The network's output ``(n, c, t)`` for ``inputs`` ``(n, c, t)``, one network per case."""
    forward = _direction(inputs, weights, "", reverse=False)
    backward = _direction(inputs, weights, "_reverse", reverse=True)
    states = torch.cat([forward, backward], dim=-1)  # (n, t, 2 hidden)
    readout = torch.einsum("nck,ntk->nct", weights["readout_weight"], states)
    return readout + weights["readout_bias"][:, :, None]
