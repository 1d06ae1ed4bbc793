"""Tiny PyTorch models with known behaviour, for tests and examples."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

_Built = TypeVar("_Built", bound=nn.Module)


def _seeded_build(seed: int, build: Callable[[], _Built]) -> _Built:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _randomise_norms(model: nn.Module, generator: torch.Generator) -> None:
    """Give batch-norm layers non-trivial running statistics, so eval mode matters."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d):
                size = module.num_features
                # The tiny models' batch norms track running statistics.
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.1)


def tiny_conv_model(n_channels: int = 3, n_classes: int = 2, seed: int = 0) -> nn.Sequential:
    """A small CNN for any series length: conv-BN-ReLU-pool, conv-ReLU, global average, linear.

    Layers are named ``conv1, bn1, relu1, pool1, conv2, relu2, gap, flatten, fc``.

    Examples
    --------
    >>> model = tiny_conv_model(n_channels=3, n_classes=2)
    >>> model(torch.zeros(4, 3, 40)).shape
    torch.Size([4, 2])
    """
    from collections import OrderedDict

    def build() -> nn.Sequential:
        model = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv1d(n_channels, 6, 5, padding=2),
                bn1=nn.BatchNorm1d(6),
                relu1=nn.ReLU(),
                pool1=nn.MaxPool1d(2),
                conv2=nn.Conv1d(6, 8, 3, padding=1),
                relu2=nn.ReLU(),
                gap=nn.AdaptiveAvgPool1d(1),
                flatten=nn.Flatten(),
                fc=nn.Linear(8, n_classes),
            )
        )
        _randomise_norms(model, torch.Generator().manual_seed(seed + 1))
        return model.eval()

    return _seeded_build(seed, build)


def linear_model(
    n_channels: int = 3, n_timepoints: int = 20, n_classes: int = 2, seed: int = 0
) -> nn.Sequential:
    """Flatten -> Linear: score_k = sum_{c,t} W[k, c, t] x[c, t] + b_k.

    Its exact attributions are known: the gradient is ``W[k]`` everywhere, input x gradient and
    Integrated Gradients from a zero baseline are ``W[k] * x``.
    """
    return _seeded_build(
        seed,
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(n_channels * n_timepoints, n_classes)).eval(),
    )


def gap_model(
    n_channels: int = 3, n_classes: int = 2, filters: int = 8, seed: int = 0
) -> nn.Sequential:
    """Conv1d ("same") -> ReLU -> global average pooling -> Linear: the CAM network.

    The class activation map of class k is ``sum_f W[k, f] relu(conv(x))_f(t)`` and its mean
    over time plus ``b_k`` is the class score.
    """
    from collections import OrderedDict

    return _seeded_build(
        seed,
        lambda: nn.Sequential(
            OrderedDict(
                conv=nn.Conv1d(n_channels, filters, 5, padding=2),
                relu=nn.ReLU(),
                gap=nn.AdaptiveAvgPool1d(1),
                flatten=nn.Flatten(),
                fc=nn.Linear(filters, n_classes),
            )
        ).eval(),
    )
