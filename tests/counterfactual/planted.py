"""Planted ground truth for the counterfactual tests: models decided by one window or channel."""

import numpy as np
import torch
from torch import nn

T = 50
LO, HI = 20, 30  # the decisive window: points 20..29 of channel 1


class WindowMask(nn.Module):
    """Keeps points 20..29, scaled by T / 10 (a layer, so CAM reads its output)."""

    def __init__(self) -> None:
        super().__init__()
        mask = torch.zeros(T)
        mask[LO:HI] = T / (HI - LO)
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask


class WindowModel(nn.Module):
    """Class 1 exactly when the mean of channel 1 over points 20..29 is above 0.

    A 1x1 convolution picks channel 1, a fixed mask keeps the window (scaled so that global
    average pooling gives the window's mean), a linear head gives logits ``(-m, m)``: a
    GAP + linear network, so its CAM is defined.
    """

    def __init__(self, n_channels: int = 3) -> None:
        super().__init__()
        self.select = nn.Conv1d(n_channels, 1, kernel_size=1, bias=False)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.window = WindowMask()
        self.head = nn.Linear(1, 2)
        with torch.no_grad():
            self.select.weight.zero_()
            self.select.weight[0, 1, 0] = 1.0
            self.head.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.head.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.window(self.select(x))).flatten(1))


def window_black_box(x: np.ndarray) -> np.ndarray:
    """The same rule as WindowModel, as a NumPy function returning probabilities."""
    m = np.asarray(x, dtype=np.float64)[:, 1, LO:HI].mean(axis=1)
    p = 1 / (1 + np.exp(-4 * m))
    return np.stack([1 - p, p], axis=1)


def channel_black_box(x: np.ndarray) -> np.ndarray:
    """Class 1 exactly when channel 2's mean is above 0 (no other channel matters)."""
    m = np.asarray(x, dtype=np.float64)[:, 2].mean(axis=1)
    p = 1 / (1 + np.exp(-4 * m))
    return np.stack([1 - p, p], axis=1)


def planted_window_data(seed: int = 0, n_query: int = 3, n_ref: int = 8):
    """Queries of class 0 (window low) and references of both classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.3, size=(n_query, 3, T)).astype(np.float32)
    x[:, 1, LO:HI] -= 1.0
    ref = rng.normal(scale=0.3, size=(n_ref, 3, T)).astype(np.float32)
    y = np.arange(n_ref) % 2
    ref[y == 1, 1, LO:HI] += 1.0
    ref[y == 0, 1, LO:HI] -= 1.0
    return x, ref, y
