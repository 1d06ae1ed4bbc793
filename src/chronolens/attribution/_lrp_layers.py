"""The layers LRP propagates through, read from a torch module: what each one is to the rules.

Every layer of the model becomes a :class:`Layer` of one kind: ``"affine"`` (a convolution or
linear layer, which gets its composite's rule), ``"pass"`` (activations and batch norms: the
relevance passes through unchanged; a batch norm fed by a layer's output is merged into it),
``"pool"`` (average pooling: relevance shared in proportion to the pooled values). Max pooling,
flatten, dropout and identity need no entry: their own gradient hands relevance on. Anything
else (an LSTM, attention, softmax, a module with weights of its own) is refused, naming it, so
LRP never hands relevance through an unknown layer as a plain gradient, silently.

Keras models on the torch backend get the same table from :mod:`._lrp_keras`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from chronolens.attribution._lrp_canonize import BATCH_NORMS, NormStats, torch_norm_stats
from chronolens.attribution._lrp_rules import LinearView
from chronolens.models.base import CapabilityError

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

WORKING = (
    "gradient methods that need no rules (input_x_gradient, integrated_gradients, "
    "gradient_shap, saliency) or the perturbation methods (occlusion, ablation)"
)
HANDLED = (
    "LRP propagates relevance through convolutions (Conv1d, Conv2d, Keras Conv1D), linear "
    "layers (Linear, Dense), batch norms, ReLU-type activations, max and average pooling, "
    "additions of two layers' outputs (residual blocks, Keras Add), Flatten, Dropout and Identity"
)


@dataclass(frozen=True)
class Layer:
    """One layer as the LRP engine sees it.

    ``view`` (affine) returns the layer as ``forward(x, W, b)`` with its weights and the axis
    of ``W`` holding the output channels; ``stats`` (batch norms) returns its statistics;
    ``forward`` (pool) is its forward without hooks.
    """

    name: str
    module: nn.Module
    kind: str
    convolution: bool = False
    view: Callable[[], tuple[LinearView, int]] | None = None
    stats: Callable[[], NormStats] | None = None
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None


def refuse(name: str, kind: str, hint: str = "") -> CapabilityError:
    """The error for a layer LRP has no rule for."""
    label = repr(name) if name else "the model itself"
    return CapabilityError(
        f"LRP has no rule for layer {label} ({kind}): {HANDLED}, and no other layer may own "
        f"weights.{hint} For this model use {WORKING}."
    )


def _torch_view(module: nn.Module) -> tuple[LinearView, int]:
    weight, bias = module.weight, module.bias
    assert isinstance(weight, torch.Tensor)
    forward = module._conv_forward if isinstance(module, CONVOLUTIONS) else F.linear
    own = bias.detach() if isinstance(bias, torch.Tensor) else None
    return LinearView(forward, weight.detach(), own), 0


def torch_layers(root: nn.Module) -> list[Layer]:
    """The :class:`Layer` table of a torch module; raises for a layer without a rule."""
    table = []
    for name, module in root.named_modules():
        if isinstance(module, AFFINE):
            conv = isinstance(module, CONVOLUTIONS)
            view = partial(_torch_view, module)  # reads the weights when the rule runs
            table.append(Layer(name, module, "affine", convolution=conv, view=view))
        elif isinstance(module, BATCH_NORMS):
            stats = partial(torch_norm_stats, module, name)
            table.append(Layer(name, module, "pass", stats=stats))
        elif isinstance(module, ACTIVATIONS):
            table.append(Layer(name, module, "pass"))
        elif isinstance(module, AVERAGE_POOLS):
            table.append(Layer(name, module, "pool", forward=module.forward))
        elif not isinstance(module, GRADIENT):
            own = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
            if next(module.children(), None) is not None and not own:
                continue  # a container: its children do the work
            hint = ""
            if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
                hint = " Explain the logits instead: drop the final softmax from the model."
            raise refuse(name, type(module).__name__, hint)
    return table
