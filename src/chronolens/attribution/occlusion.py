"""Sliding-window occlusion."""

from __future__ import annotations

from typing import Any

import torch

from chronolens._progress import SILENT, Progress
from chronolens._validation import check_choice, resolve_seed
from chronolens.attribution._perturbation import score_drops
from chronolens.attribution._result import MethodResult
from chronolens.attribution._segments import CHANNEL_MODES, sliding_windows
from chronolens.baselines import replacement
from chronolens.models.base import Model
from chronolens.targets import Target


def occlusion(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    window: int = 15,
    stride: int | None = None,
    channels: str = "each",
    baseline: Any = "zeros",
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Occlusion: how much the score drops when a sliding window is replaced by a baseline.

    Windows of ``window`` points start at 0, ``stride``, 2 ``stride``, ... until one reaches the
    end of the series (that last one is cut at the end when ``stride`` does not divide
    ``n_timepoints - window``). A point's attribution is the mean of ``f(x) - f(x occluded)``
    over the windows that cover it, as in Captum's ``Occlusion``. Positive: hiding the window
    lowers the score. Works on any model, gradients not needed.

    On PyTorch convolutional models only the stretch of each activation a window reaches is
    recomputed, reading the rest from the unperturbed pass: the same numbers as full
    recomputation for a fraction of the work. ``extras["occlusion_path"]`` says which engine ran:

    - ``"incremental-chain"``: an ``nn.Sequential`` (or a ``forward`` torch.fx traces into one
      line) of Conv1d, pools, batch norm, activations, then Flatten -> Linear or global average
      pooling -> Linear;
    - ``"incremental-graph"``: a ``forward`` torch.fx traces (or a ``torch.export`` program)
      made of those layers joined by ``add`` / ``mul`` / ``cat`` along channels (residual
      shortcuts, branches, 1x1-conv shortcuts), ending in a mean, sum or max over time, adaptive
      pooling to 1, or Flatten -> Linear, with any head after that;
    - ``"full"``: anything else (an operation along time the engines do not know, Keras, black
      boxes): every perturbed series runs through the model.

    Parameters
    ----------
    window : int, default=15
        Time points per window.
    stride : int or None, default=None
        Step between window starts; None: ``min(5, window)``.
    channels : {"each", "all"}, default="each"
        Occlude one channel at a time (a map per channel) or every channel together (one map
        shared by all channels).
    baseline : {"zeros", "mean", "noise", "local_mean"}, float or array, default="zeros"
        Replacement values: zeros; the case's per-channel mean; seeded Gaussian noise with the
        case's per-channel mean and standard deviation; the mean of the occluded window (per
        channel); a constant; or an array (n_channels, n_timepoints) or (n_cases, ...).
    seed : int, optional
        Seed of the ``"noise"`` baseline.

    References
    ----------
    Zeiler, Fergus (2014). Visualizing and understanding convolutional networks. ECCV.
    """
    check_choice(channels, "channels", CHANNEL_MODES)
    _, n_channels, n_timepoints = x.shape
    if stride is None:
        stride = min(5, window) if isinstance(window, int) else 5
    windows = sliding_windows(n_channels, n_timepoints, window, stride, channels)
    values = replacement(baseline, x, seed=resolve_seed(seed))
    drops, _, path = score_drops(model, x, target, windows, values, batch_size, progress)
    attributions = windows.spread(drops, n_channels, n_timepoints, average=True)
    if channels == "all":
        attributions = attributions[:, :1]
    return MethodResult(
        attributions,
        extras={"occlusion_path": path, "n_windows": len(windows)},
        case_extras={"window_drops": drops},
    )
