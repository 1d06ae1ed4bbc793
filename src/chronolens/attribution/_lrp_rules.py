"""LRP rules: how one layer hands the relevance of its outputs back to its inputs.

A convolution or linear layer is seen as an affine map ``z = f(x, W, b)`` (its own forward
with the weights it is given: the layer's, or those with a batch norm merged in). Each rule
redistributes the output relevance ``R`` (same shape as ``z``) onto the inputs, using
``vjp(W, s) = d/dx <f(x, W, 0), s>`` (the transposed map: ``f`` is linear in ``x``), with
``s = R / stabilize(z')`` for the rule's own denominators ``z'`` (Montavon et al. 2019):

- ``epsilon``: ``R_in = x * vjp(W, R / stab_eps(f(x, W, b)))`` (LRP-0 at ``epsilon=0``);
- ``zplus``: positive contributions only, ``x+`` through ``W+`` (with ``b+``) plus ``x-``
  through ``W-``, over their sum (alpha=1, beta=0 for signed inputs);
- ``alpha_beta``: ``alpha`` times the positive share minus ``beta`` times the negative share;
- ``gamma``: ``W + gamma W+`` favours positive contributions (the generalised form for signed
  inputs: for outputs z > 0 the positive contributions, for z < 0 the negative ones);
- ``zbox``: for inputs bounded by ``low <= x <= high`` (the input layer);
- ``flat``: every input of an output's receptive field gets an equal share;
- ``wsquare``: shares proportional to ``W**2`` (with ``b**2``).

``stabilize(z) = z + eps * sign(z)``, with ``sign(0) = +1``. Every rule is linear in ``R``, as
zennit's are (its formulas are the reference of the tests).

References
----------
Bach, Binder, Montavon, Klauschen, Müller, Samek (2015). On pixel-wise explanations for
non-linear classifier decisions by layer-wise relevance propagation. PLoS ONE.
Montavon, Binder, Lapuschkin, Samek, Müller (2019). Layer-wise relevance propagation: an
overview. In: Explainable AI, LNCS 11700.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

#: Default stabiliser of the denominators of every rule but epsilon (zennit's).
STABILIZER = 1e-6

Affine = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


class LinearView(NamedTuple):
    """A convolution or linear layer as ``forward(x, weight, bias)`` and its parameters."""

    forward: Affine
    weight: torch.Tensor
    bias: torch.Tensor | None


def stabilize(z: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``z + epsilon * sign(z)``, zeros moved to ``+epsilon``: a safe denominator."""
    return z + epsilon * ((z == 0).to(z) + z.sign())


def _plus(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.clamp(min=0)


def _minus(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.clamp(max=0)


def _vjp(
    view: LinearView, like: torch.Tensor, weight: torch.Tensor, s: torch.Tensor
) -> torch.Tensor:
    """``d/dx <f(x, weight, 0), s>``: the layer's transposed map applied to ``s``."""
    with torch.enable_grad():
        probe = torch.zeros_like(like, requires_grad=True)
        (grad,) = torch.autograd.grad(view.forward(probe, weight, None), probe, s)
    return grad


def _signed_split(
    view: LinearView,
    x: torch.Tensor,
    r: torch.Tensor,
    weights: tuple[torch.Tensor, torch.Tensor],
    bias: torch.Tensor | None,
    stabilizer: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``x+`` through ``weights[0]`` (with ``bias``) and ``x-`` through ``weights[1]``, shared.

    The denominator is the sum of both parts; ``mask`` (optional) restricts the outputs whose
    relevance is handed back.
    """
    x_pos, x_neg = x.clamp(min=0), x.clamp(max=0)
    z = view.forward(x_pos, weights[0], bias) + view.forward(x_neg, weights[1], None)
    s = r / stabilize(z, stabilizer)
    if mask is not None:
        s = s * mask
    return x_pos * _vjp(view, x, weights[0], s) + x_neg * _vjp(view, x, weights[1], s)


@dataclass(frozen=True)
class Epsilon:
    """LRP-epsilon: ``R_in = x * vjp(W, R / stab_eps(z))``."""

    epsilon: float = 1e-6
    name: str = "epsilon"

    def relevance(self, view: LinearView, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Hand ``r`` (the outputs' relevance) back to the inputs ``x``."""
        z = view.forward(x, view.weight, view.bias)
        return x * _vjp(view, x, view.weight, r / stabilize(z, self.epsilon))


@dataclass(frozen=True)
class ZPlus:
    """LRP-z+: positive contributions only (``x+ W+ + x- W-``, bias ``b+``)."""

    stabilizer: float = STABILIZER
    name: str = "zplus"

    def relevance(self, view: LinearView, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Hand ``r`` (the outputs' relevance) back to the inputs ``x``."""
        w = view.weight
        weights = (w.clamp(min=0), w.clamp(max=0))
        return _signed_split(view, x, r, weights, _plus(view.bias), self.stabilizer)


@dataclass(frozen=True)
class AlphaBeta:
    """LRP-alpha-beta: ``alpha`` x positive share - ``beta`` x negative share (alpha - beta = 1)."""

    alpha: float = 2.0
    beta: float = 1.0
    stabilizer: float = STABILIZER
    name: str = "alpha_beta"

    def relevance(self, view: LinearView, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Hand ``r`` (the outputs' relevance) back to the inputs ``x``."""
        w_pos, w_neg = view.weight.clamp(min=0), view.weight.clamp(max=0)
        positive = _signed_split(view, x, r, (w_pos, w_neg), _plus(view.bias), self.stabilizer)
        negative = _signed_split(view, x, r, (w_neg, w_pos), _minus(view.bias), self.stabilizer)
        return self.alpha * positive - self.beta * negative


@dataclass(frozen=True)
class Gamma:
    """LRP-gamma (generalised to signed inputs): weights ``W + gamma W+`` for positive outputs."""

    gamma: float = 0.25
    stabilizer: float = STABILIZER
    name: str = "gamma"

    def relevance(self, view: LinearView, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Hand ``r`` (the outputs' relevance) back to the inputs ``x``."""
        w, b, g = view.weight, view.bias, self.gamma
        up, down = w + g * w.clamp(min=0), w + g * w.clamp(max=0)
        b_up = None if b is None else b + g * b.clamp(min=0)
        b_down = None if b is None else b + g * b.clamp(max=0)
        z = view.forward(x, w, b)
        positive = _signed_split(view, x, r, (up, down), b_up, self.stabilizer, (z > 0).to(z))
        negative = _signed_split(view, x, r, (down, up), b_down, self.stabilizer, (z < 0).to(z))
        return positive + negative


@dataclass(frozen=True)
class ZBox:
    """LRP-z^B for inputs bounded by ``low`` and ``high`` (per case, broadcast to the input)."""

    low: torch.Tensor
    high: torch.Tensor
    stabilizer: float = STABILIZER
    name: str = "zbox"

    def relevance(self, view: LinearView, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Hand ``r`` (the outputs' relevance) back to the inputs ``x``."""
        low = self.low.to(x).expand_as(x)
        high = self.high.to(x).expand_as(x)
        w, b = view.weight, view.bias
        w_pos, w_neg = w.clamp(min=0), w.clamp(max=0)
        z = (
            view.forward(x, w, b)
            - view.forward(low, w_pos, _plus(b))
            - view.forward(high, w_neg, _minus(b))
        )
        s = r / stabilize(z, self.stabilizer)
        return (
            x * _vjp(view, x, w, s) - low * _vjp(view, x, w_pos, s) - high * _vjp(view, x, w_neg, s)
        )


@dataclass(frozen=True)
class Flat:
    """LRP-flat: equal shares over each output's receptive field (all weights one, no bias)."""

    stabilizer: float = STABILIZER
    name: str = "flat"

    def relevance(self, view: LinearView, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Hand ``r`` (the outputs' relevance) back to the inputs ``x``."""
        ones = torch.ones_like(view.weight)
        z = view.forward(torch.ones_like(x), ones, None)
        return _vjp(view, x, ones, r / stabilize(z, self.stabilizer))


@dataclass(frozen=True)
class WSquare:
    """LRP-w^2: shares proportional to the squared weights (squared bias in the denominator)."""

    stabilizer: float = STABILIZER
    name: str = "wsquare"

    def relevance(self, view: LinearView, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Hand ``r`` (the outputs' relevance) back to the inputs ``x``."""
        squared = view.weight**2
        bias = None if view.bias is None else view.bias**2
        z = view.forward(torch.ones_like(x), squared, bias)
        return _vjp(view, x, squared, r / stabilize(z, self.stabilizer))


def norm_relevance(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    r: torch.Tensor,
    stabilizer: float = STABILIZER,
) -> torch.Tensor:
    """Average pooling: ``R_in = x * d/dx <forward(x), R / stab(forward(x))>`` (shares by value)."""
    with torch.enable_grad():
        probe = x.detach().requires_grad_(True)
        z = forward(probe)
        (grad,) = torch.autograd.grad(z, probe, r / stabilize(z.detach(), stabilizer))
    return x * grad


#: Every rule a composite may assign to a convolution or linear layer.
Rule = Epsilon | ZPlus | AlphaBeta | Gamma | ZBox | Flat | WSquare
