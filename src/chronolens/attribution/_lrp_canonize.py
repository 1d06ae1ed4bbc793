"""Batch norm merged into the convolution or linear layer that feeds it, for LRP.

In eval mode ``BN(conv(x))`` is one affine map: ``W' = W * s``, ``b' = (b - mean) * s + beta``
with ``s = gamma / sqrt(var + eps)`` per output channel. LRP rules must see that merged layer
(zennit's ``SequentialMergeBatchNorm`` canonizer), else the batch norm's shift and scale never
enter the shares. zennit writes the merged values into the model and reverts them afterwards;
here they are computed as new tensors, read only by the rules of one call, and the model's
parameters and buffers are never written: nothing to revert, even when a forward raises.

A batch norm is merged when its input is the very tensor the layer produced (the data flow of
this forward pass, not the order the modules are declared in); a batch norm fed by anything
else passes relevance through unchanged, as in zennit's composites.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class NormStats(NamedTuple):
    """What an eval-mode batch norm computes: ``(x - mean) / sqrt(var + eps) * gamma + beta``."""

    mean: torch.Tensor
    var: torch.Tensor
    eps: float
    gamma: torch.Tensor | None
    beta: torch.Tensor | None


def torch_norm_stats(norm: nn.Module, name: str) -> NormStats:
    """The statistics of a torch batch norm; refused without running statistics."""
    mean, var = getattr(norm, "running_mean", None), getattr(norm, "running_var", None)
    if not isinstance(mean, torch.Tensor) or not isinstance(var, torch.Tensor):
        raise ValueError(
            f"Layer {name!r} ({type(norm).__name__}) has no running statistics "
            "(track_running_stats=False), so in eval mode it normalises by the batch and is not "
            "one affine map LRP can merge; rebuild it with track_running_stats=True, or use a "
            "gradient method such as integrated_gradients."
        )
    gamma, beta = norm.weight, norm.bias
    return NormStats(
        mean,
        var,
        float(norm.eps),  # type: ignore[arg-type]
        gamma if isinstance(gamma, torch.Tensor) else None,
        beta if isinstance(beta, torch.Tensor) else None,
    )


def merged(
    weight: torch.Tensor, bias: torch.Tensor | None, stats: NormStats, axis: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W', b')`` of the layer ``(weight, bias)`` followed by the batch norm ``stats``.

    ``axis`` is the axis of ``weight`` that holds the output channels (0 for torch layers, the
    last for Keras kernels). New tensors: the layer's and the batch norm's are only read.
    """
    mean = stats.mean.detach().to(weight)
    scale = (stats.var.detach().to(weight) + stats.eps) ** 0.5
    gamma = torch.ones_like(mean) if stats.gamma is None else stats.gamma.detach().to(weight)
    beta = torch.zeros_like(mean) if stats.beta is None else stats.beta.detach().to(weight)
    scale = gamma / scale
    shape = [1] * weight.ndim
    shape[axis] = -1
    base = torch.zeros_like(mean) if bias is None else bias.detach().to(weight)
    return weight.detach() * scale.reshape(shape), (base - mean) * scale + beta
