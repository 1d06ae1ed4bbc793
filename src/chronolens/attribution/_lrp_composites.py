"""LRP composites (which rule each layer gets) and the layers LRP can propagate through.

The composites are zennit's, by name and by assignment (Kohlbrenner et al. 2020):

============================  ================  ===============  ==============
composite                     first layer       convolutions     linear layers
============================  ================  ===============  ==============
``epsilon_plus``              (as the others)   z+               epsilon
``epsilon_plus_flat``         flat              z+               epsilon
``epsilon_alpha2_beta1``      (as the others)   alpha=2, beta=1  epsilon
``epsilon_alpha2_beta1_flat`` flat              alpha=2, beta=1  epsilon
``epsilon_gamma_box``         z^B (a conv)      gamma            epsilon
============================  ================  ===============  ==============

The first layer is the first convolution or linear layer the forward pass runs (for
``epsilon_gamma_box``: the first convolution). Everywhere: activations and batch norms pass
relevance through unchanged (a batch norm right after a layer is merged into it first, see
:mod:`chronolens.attribution._lrp_canonize`), average pooling shares relevance in proportion
to the pooled values, max pooling, flatten, dropout and identity pass it as the gradient does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from chronolens.attribution._lrp_rules import (
    AlphaBeta,
    Epsilon,
    Flat,
    Gamma,
    Rule,
    ZBox,
    ZPlus,
)

COMPOSITES = (
    "epsilon_plus",
    "epsilon_plus_flat",
    "epsilon_alpha2_beta1",
    "epsilon_alpha2_beta1_flat",
    "epsilon_gamma_box",
)


@dataclass(frozen=True)
class Composite:
    """The rules of one composite: for the first layer (optional), convolutions, linear layers."""

    name: str
    convolution: Rule
    linear: Rule
    first: Rule | None = None
    first_convolution_only: bool = False


def composite_rules(
    name: str,
    *,
    epsilon: float,
    gamma: float,
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Composite:
    """The :class:`Composite` called ``name``, with ``epsilon`` (linear layers), ``gamma``.

    ``bounds`` are the ``(low, high)`` of the z^B rule (``epsilon_gamma_box`` only).
    """
    linear = Epsilon(epsilon)
    plus, alpha_beta = ZPlus(), AlphaBeta(2.0, 1.0)
    if name == "epsilon_plus":
        return Composite(name, plus, linear)
    if name == "epsilon_plus_flat":
        return Composite(name, plus, linear, Flat())
    if name == "epsilon_alpha2_beta1":
        return Composite(name, alpha_beta, linear)
    if name == "epsilon_alpha2_beta1_flat":
        return Composite(name, alpha_beta, linear, Flat())
    if name == "epsilon_gamma_box":
        assert bounds is not None
        return Composite(name, Gamma(gamma), linear, ZBox(*bounds), first_convolution_only=True)
    raise ValueError(f"`composite` must be one of {', '.join(COMPOSITES)}; got {name!r}.")
