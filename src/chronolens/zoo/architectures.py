"""Reference 1-D convolutional classifiers (PyTorch).

- :func:`conv1d_classifier`: the common hand-built 1-D CNN, two blocks of Conv1d (kernel 9,
  "valid") -> BatchNorm -> ReLU -> MaxPool(5), then Flatten -> Linear.
- :func:`fcn`: the fully convolutional network of Wang et al. (2017), global average pooling +
  linear head: the classic CAM network.
- :func:`resnet`: the 1-D ResNet of Wang et al. (2017) (:class:`ResNet`, built of
  :class:`ResidualBlock`).

Each builder takes a ``seed`` and initialises its weights from it without touching torch's global
random state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from chronolens._validation import check_int

_Built = TypeVar("_Built", bound=nn.Module)


def _seeded(seed: int, build: Callable[[], _Built]) -> _Built:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def conv1d_classifier(
    n_channels: int,
    n_timepoints: int,
    n_classes: int,
    *,
    filters: int = 128,
    kernel_size: int = 9,
    pool_size: int = 5,
    seed: int = 0,
) -> nn.Sequential:
    """Two Conv1d -> BatchNorm -> ReLU -> MaxPool blocks, then Flatten -> Linear.

    The architecture users most often hand-build for multivariate sensor data (Keras:
    ``Conv1D(128, 9) -> BatchNormalization -> Activation -> MaxPooling1D(5)``, twice, ``Flatten ->
    Dense``), with "valid" padding as in Keras.

    Parameters
    ----------
    n_channels, n_timepoints, n_classes : int
        Input channels, series length and number of classes.
    filters : int, default=128
        Filters of both convolutions.
    kernel_size : int, default=9
    pool_size : int, default=5
    seed : int, default=0
        Seed of the weight initialisation.

    Returns
    -------
    torch.nn.Sequential
        Named layers ``conv1, bn1, relu1, pool1, conv2, bn2, relu2, pool2, flatten, fc``.
    """
    check_int(n_channels, "n_channels", minimum=1)
    check_int(n_classes, "n_classes", minimum=2)
    length = n_timepoints
    for _ in range(2):
        length = (length - kernel_size + 1) // pool_size
    minimum = pool_size * (pool_size + kernel_size - 1) + kernel_size - 1
    if length < 1:
        raise ValueError(
            f"`n_timepoints`={n_timepoints} is too short for two blocks of kernel {kernel_size} "
            f"and pooling {pool_size}; use at least {minimum}."
        )

    def build() -> nn.Sequential:
        layers: dict[str, nn.Module] = {}
        width = n_channels
        for block in (1, 2):
            layers[f"conv{block}"] = nn.Conv1d(width, filters, kernel_size)
            layers[f"bn{block}"] = nn.BatchNorm1d(filters)
            layers[f"relu{block}"] = nn.ReLU()
            layers[f"pool{block}"] = nn.MaxPool1d(pool_size)
            width = filters
        layers["flatten"] = nn.Flatten()
        layers["fc"] = nn.Linear(filters * length, n_classes)
        return nn.Sequential(_ordered(layers))

    return _seeded(seed, build)


def _ordered(layers: dict[str, nn.Module]) -> Any:
    from collections import OrderedDict

    return OrderedDict(layers)


def fcn(
    n_channels: int,
    n_classes: int,
    *,
    filters: Sequence[int] = (128, 256, 128),
    kernel_sizes: Sequence[int] = (8, 5, 3),
    seed: int = 0,
) -> nn.Sequential:
    """Fully convolutional network (Wang et al., 2017) with a global-average-pooling head.

    Three Conv1d ("same" padding) -> BatchNorm -> ReLU blocks, global average pooling and a
    linear layer: the network class activation maps were designed for.

    Returns
    -------
    torch.nn.Sequential
        Named layers ``conv1, bn1, relu1, ..., relu3, gap, flatten, fc``.

    References
    ----------
    Wang, Yan, Oates (2017). Time series classification from scratch with deep neural networks:
    a strong baseline. IJCNN.
    """
    if len(filters) != len(kernel_sizes):
        raise ValueError("`filters` and `kernel_sizes` must have the same length.")

    def build() -> nn.Sequential:
        layers: dict[str, nn.Module] = {}
        width = n_channels
        for block, (out, kernel) in enumerate(zip(filters, kernel_sizes), start=1):
            layers[f"conv{block}"] = nn.Conv1d(width, out, kernel, padding="same")
            layers[f"bn{block}"] = nn.BatchNorm1d(out)
            layers[f"relu{block}"] = nn.ReLU()
            width = out
        layers["gap"] = nn.AdaptiveAvgPool1d(1)
        layers["flatten"] = nn.Flatten()
        layers["fc"] = nn.Linear(width, n_classes)
        return nn.Sequential(_ordered(layers))

    return _seeded(seed, build)


def _conv(dims: int, in_channels: int, out_channels: int, kernel: int) -> nn.Module:
    """A "same"-padded convolution along time: Conv1d, or Conv2d with a (1, kernel) kernel."""
    if dims == 1:
        return nn.Conv1d(in_channels, out_channels, kernel, padding="same")
    return nn.Conv2d(in_channels, out_channels, (1, kernel), padding="same")


def _norm(dims: int, channels: int) -> nn.Module:
    return nn.BatchNorm1d(channels) if dims == 1 else nn.BatchNorm2d(channels)


class ResidualBlock(nn.Module):
    """Three convolutions (kernels 8, 5, 3) with a 1x1-convolution shortcut.

    ``dims=2`` makes the dimension-wise block of :class:`DResNet`: the same along time, with
    (1, k) kernels over the rows of the cube.
    """

    def __init__(self, in_channels: int, out_channels: int, dims: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv(dims, in_channels, out_channels, 8)
        self.bn1 = _norm(dims, out_channels)
        self.conv2 = _conv(dims, out_channels, out_channels, 5)
        self.bn2 = _norm(dims, out_channels)
        self.conv3 = _conv(dims, out_channels, out_channels, 3)
        self.bn3 = _norm(dims, out_channels)
        self.shortcut = nn.Sequential(
            _conv(dims, in_channels, out_channels, 1), _norm(dims, out_channels)
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """1-D ResNet of Wang et al. (2017): residual blocks, global average pooling, linear."""

    def __init__(self, n_channels: int, n_classes: int, filters: Sequence[int]) -> None:
        super().__init__()
        widths = [n_channels, *filters]
        self.blocks = nn.Sequential(*(ResidualBlock(a, b) for a, b in itertools.pairwise(widths)))
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits."""
        return self.fc(self.gap(self.blocks(x)).flatten(1))


def resnet(
    n_channels: int, n_classes: int, *, filters: Sequence[int] = (64, 128, 128), seed: int = 0
) -> ResNet:
    """1-D ResNet (Wang et al., 2017): three residual blocks, global average pooling, linear.

    References
    ----------
    Wang, Yan, Oates (2017). Time series classification from scratch with deep neural networks:
    a strong baseline. IJCNN.
    """
    return _seeded(seed, lambda: ResNet(n_channels, n_classes, filters))
