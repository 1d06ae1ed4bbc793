"""A hand-built Conv1d model whose class score depends only on a bump in one channel."""

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

N_CHANNELS, N_TIMEPOINTS = 3, 60
CHANNEL = 1
WINDOW = (24, 36)  # layer positions (= input times, "same" padding) the head reads
KERNEL = 5


def planted_model() -> nn.Sequential:
    """``score_1 = sum_{j in WINDOW} relu(mean of channel 1 around j - 0.5)``; ``score_0 = 0``.

    Filter 0 averages channel 1 over 5 points; filter 1 averages channel 0 (a distractor the head
    ignores). The head reads filter 0 at positions WINDOW only, so the class-1 score depends only
    on channel 1 at input times WINDOW[0] - 2 .. WINDOW[1] + 1.
    """
    conv = nn.Conv1d(N_CHANNELS, 2, KERNEL, padding=KERNEL // 2)
    fc = nn.Linear(2 * N_TIMEPOINTS, 2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, CHANNEL] = 1.0 / KERNEL
        conv.weight[1, 0] = 1.0 / KERNEL
        conv.bias.fill_(-0.5)
        fc.weight.zero_()
        fc.bias.zero_()
        fc.weight[1, WINDOW[0] : WINDOW[1]] = 1.0
    return nn.Sequential(OrderedDict(conv=conv, relu=nn.ReLU(), flatten=nn.Flatten(), fc=fc)).eval()


def planted_series(n_cases: int = 4, seed: int = 0) -> np.ndarray:
    """Noise, a bump in channel 1 inside WINDOW, and bumps elsewhere in every channel."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.1, size=(n_cases, N_CHANNELS, N_TIMEPOINTS))
    t = np.arange(N_TIMEPOINTS)
    centre = (WINDOW[0] + WINDOW[1]) / 2

    def bump(at: float) -> np.ndarray:
        return 2.0 * np.exp(-0.5 * ((t - at) / 3.0) ** 2)

    x[:, CHANNEL] += bump(centre)
    x[:, 0] += bump(centre) + bump(8)  # the ignored channel: same time, and elsewhere
    x[:, 2] += bump(50)
    return x.astype(np.float32)


def window_mask() -> np.ndarray:
    """True on channel 1 at input times WINDOW, shape (N_CHANNELS, N_TIMEPOINTS)."""
    mask = np.zeros((N_CHANNELS, N_TIMEPOINTS), dtype=bool)
    mask[CHANNEL, WINDOW[0] : WINDOW[1]] = True
    return mask
