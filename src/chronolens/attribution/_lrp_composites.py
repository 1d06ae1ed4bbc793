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
from torch import nn

from chronolens.attribution._lrp_canonize import BATCH_NORMS
from chronolens.attribution._lrp_rules import (
    AlphaBeta,
    Epsilon,
    Flat,
    Gamma,
    Rule,
    ZBox,
    ZPlus,
)
from chronolens.models.base import CapabilityError

COMPOSITES = (
    "epsilon_plus",
    "epsilon_plus_flat",
    "epsilon_alpha2_beta1",
    "epsilon_alpha2_beta1_flat",
    "epsilon_gamma_box",
)

#: Layers with weights that get a rule.
CONVOLUTIONS = (nn.Conv1d, nn.Conv2d)
AFFINE = (*CONVOLUTIONS, nn.Linear)
#: Element-wise layers relevance passes through unchanged (zennit's ``Pass``).
ACTIVATIONS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ReLU6,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Softplus,
    nn.Hardtanh,
    nn.Tanh,
    nn.Sigmoid,
)
PASS = (*ACTIVATIONS, *BATCH_NORMS)
#: Average pooling: relevance shared in proportion to the pooled values.
AVERAGE_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
#: Layers whose own gradient already hands relevance on (selection, reshaping, identity).
GRADIENT = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.AlphaDropout,
)
SUPPORTED = (*AFFINE, *PASS, *AVERAGE_POOLS, *GRADIENT)

_WORKING = (
    "gradient methods that need no rules (input_x_gradient, integrated_gradients, "
    "gradient_shap, saliency) or the perturbation methods (occlusion, ablation)"
)
_HANDLED = (
    "LRP propagates relevance through Conv1d, Conv2d, Linear, BatchNorm, ReLU-type activations, "
    "max and average pooling, Flatten, Dropout and Identity"
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


def _is_keras(module: nn.Module) -> bool:
    return type(module).__module__.split(".")[0] == "keras"


def check_supported(root: nn.Module) -> None:
    """Raise :class:`CapabilityError` naming the first layer LRP has no rule for.

    Containers (modules whose work is done by their children) are fine; a module with weights
    of its own outside the layers above, or an unknown leaf (an LSTM, attention, softmax, a
    Keras layer), is not: LRP would hand relevance through it as a plain gradient, silently.
    """
    if _is_keras(root):
        raise CapabilityError(
            "LRP supports PyTorch modules; this is a Keras model, whose layers are not the "
            f"torch layers LRP has rules for. For Keras models use {_WORKING}, or rebuild the "
            "network in PyTorch with the same weights to use LRP."
        )
    for name, module in root.named_modules():
        if isinstance(module, SUPPORTED):
            continue
        own = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
        if next(module.children(), None) is not None and not own:
            continue  # a container
        label = repr(name) if name else "the model itself"
        hint = ""
        if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
            hint = " Explain the logits instead: drop the final softmax from the model."
        raise CapabilityError(
            f"LRP has no rule for layer {label} ({type(module).__name__}): {_HANDLED}, and no "
            f"other layer may own weights.{hint} For this model use {_WORKING}."
        )
