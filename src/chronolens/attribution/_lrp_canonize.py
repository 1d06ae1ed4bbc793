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

import torch
from torch import nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def check_mergeable(norm: nn.Module, name: str) -> None:
    """Refuse a batch norm without running statistics (it normalises by the batch in eval)."""
    if getattr(norm, "running_mean", None) is None or getattr(norm, "running_var", None) is None:
        raise ValueError(
            f"Layer {name!r} ({type(norm).__name__}) has no running statistics "
            "(track_running_stats=False), so in eval mode it normalises by the batch and is not "
            "one affine map LRP can merge; rebuild it with track_running_stats=True, or use a "
            "gradient method such as integrated_gradients."
        )


def merged(
    weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W', b')`` of the layer ``(weight, bias)`` followed by the eval-mode batch norm ``norm``.

    ``weight`` has the output channels on axis 0 (``nn.Conv1d``, ``nn.Conv2d``, ``nn.Linear``).
    New tensors: the layer's and the batch norm's own are read, never written.
    """
    mean = norm.running_mean
    var = norm.running_var
    assert isinstance(mean, torch.Tensor) and isinstance(var, torch.Tensor)
    eps = float(norm.eps)  # type: ignore[arg-type]
    scale = (var + eps) ** 0.5
    gamma = norm.weight
    scale = (gamma if isinstance(gamma, torch.Tensor) else torch.ones_like(mean)) / scale
    beta = norm.bias if isinstance(norm.bias, torch.Tensor) else torch.zeros_like(mean)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    base = torch.zeros_like(mean) if bias is None else bias
    new_weight = weight.detach() * scale.detach().reshape(shape).to(weight)
    new_bias = (base.detach() - mean.to(weight)) * scale.detach().to(weight) + beta.detach()
    return new_weight, new_bias.to(weight)
