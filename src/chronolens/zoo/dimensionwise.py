"""Dimension-wise networks of Boniol et al. (2022), explained channel by channel by ``dcam``.

:func:`dcnn` (:class:`DCNN`) and :func:`dresnet` (:class:`DResNet`) read the "cube" of cyclically
shifted channels (:class:`DimensionCube`) with 2-D convolutions of (1, k) kernels. They take the
ordinary ``(n, channels, time)`` series, so :func:`chronolens.zoo.fit` trains them unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from chronolens._validation import check_int
from chronolens.zoo.architectures import ResidualBlock, _conv, _norm, _ordered, _seeded


class DimensionCube(nn.Module):
    """Turn a series ``(n, D, t)`` into the cube ``(n, D, D, t)`` of cyclically shifted channels.

    ``cube[:, i, j] = x[:, (i + j) % D]``: axis 1 (the input channels of the 2-D convolutions that
    follow) is the *position* ``i``, axis 2 the row ``j``. Every row holds every channel once, in
    the same cyclic order starting at a different channel, so a (1, k) convolution sees each
    channel in every position across the rows. Boniol et al. (2022) call this C(T).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the cube."""
        n_channels = x.shape[1]
        offsets = torch.arange(n_channels, device=x.device)
        index = (offsets[:, None] + offsets[None, :]) % n_channels
        return x[:, index]


class DCNN(nn.Module):
    """Dimension-wise CNN (Boniol et al., 2022): cube, (1, k) conv blocks, GAP, linear."""

    def __init__(
        self, n_channels: int, n_classes: int, filters: Sequence[int], kernel_size: int
    ) -> None:
        super().__init__()
        self.cube = DimensionCube()
        layers: dict[str, nn.Module] = {}
        widths = [n_channels, *filters]
        for block, (a, b) in enumerate(itertools.pairwise(widths), start=1):
            layers[f"conv{block}"] = _conv(2, a, b, kernel_size)
            if block < len(filters):  # the paper's last convolution has no batch norm
                layers[f"bn{block}"] = _norm(2, b)
            layers[f"relu{block}"] = nn.ReLU()
        self.features = nn.Sequential(_ordered(layers))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits for series ``(n, n_channels, n_timepoints)``."""
        return self.fc(self.gap(self.features(self.cube(x))).flatten(1))


class DResNet(nn.Module):
    """Dimension-wise ResNet (Boniol et al., 2022): cube, 2-D residual blocks, GAP, linear."""

    def __init__(self, n_channels: int, n_classes: int, filters: Sequence[int]) -> None:
        super().__init__()
        self.cube = DimensionCube()
        widths = [n_channels, *filters]
        self.blocks = nn.Sequential(
            *(ResidualBlock(a, b, dims=2) for a, b in itertools.pairwise(widths))
        )
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits for series ``(n, n_channels, n_timepoints)``."""
        return self.fc(self.gap(self.blocks(self.cube(x))).flatten(1))


def _check_filters(filters: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(check_int(f, "filters", minimum=1) for f in filters)
    if not widths:
        raise ValueError("`filters` must name at least one layer width.")
    return widths


def dcnn(
    n_channels: int,
    n_classes: int,
    *,
    filters: Sequence[int] = (64, 64, 128, 128),
    kernel_size: int = 3,
    seed: int = 0,
) -> DCNN:
    """Dimension-wise CNN of Boniol et al. (2022), explained per channel by ``dcam``.

    The input series ``(n, D, t)`` becomes the cube ``(n, D, D, t)`` (:class:`DimensionCube`),
    read by 2-D convolutions with (1, ``kernel_size``) kernels and "same" padding, each followed
    by batch norm (except the last) and ReLU, then global average pooling over rows and time and
    a linear layer. The model takes ordinary series, so ``fit()``, ``accuracy()`` and every other
    method work on it unchanged.

    Parameters
    ----------
    n_channels, n_classes : int
    filters : sequence of int, default=(64, 64, 128, 128)
        Widths of the convolutions. The paper uses (128, 128, 256, 256, 256) on a GPU; the
        default is lighter for CPUs (the cube makes every layer ``D`` times more expensive
        than its 1-D counterpart).
    kernel_size : int, default=3
    seed : int, default=0

    References
    ----------
    Boniol, Meftah, Remy, Palpanas (2022). dCAM: Dimension-wise class activation map for
    explaining multivariate data series classification. SIGMOD.

    Examples
    --------
    >>> import torch
    >>> from chronolens import zoo
    >>> model = zoo.dcnn(5, 2, filters=(8, 8))
    >>> model(torch.zeros(3, 5, 40)).shape
    torch.Size([3, 2])
    """
    n_channels = check_int(n_channels, "n_channels", minimum=1)
    n_classes = check_int(n_classes, "n_classes", minimum=1)
    widths = _check_filters(filters)
    kernel_size = check_int(kernel_size, "kernel_size", minimum=1)
    return _seeded(seed, lambda: DCNN(n_channels, n_classes, widths, kernel_size))


def dresnet(
    n_channels: int, n_classes: int, *, filters: Sequence[int] = (32, 64, 64), seed: int = 0
) -> DResNet:
    """Dimension-wise ResNet of Boniol et al. (2022), explained per channel by ``dcam``.

    :func:`resnet`'s three residual blocks (kernels 8, 5, 3 along time) as 2-D convolutions with
    (1, k) kernels over the cube of cyclically shifted channels (:class:`DimensionCube`), then
    global average pooling and a linear layer. Takes ordinary ``(n, D, t)`` series.

    Parameters
    ----------
    n_channels, n_classes : int
    filters : sequence of int, default=(32, 64, 64)
        Block widths; the paper uses (64, 128, 128) on a GPU.
    seed : int, default=0

    References
    ----------
    Boniol, Meftah, Remy, Palpanas (2022). dCAM: Dimension-wise class activation map for
    explaining multivariate data series classification. SIGMOD.
    """
    n_channels = check_int(n_channels, "n_channels", minimum=1)
    n_classes = check_int(n_classes, "n_classes", minimum=1)
    widths = _check_filters(filters)
    return _seeded(seed, lambda: DResNet(n_channels, n_classes, widths))
