"""Small pieces shared by several methods."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from chronolens._batching import chunks
from chronolens._progress import Progress
from chronolens.targets import Target


def gradients(
    model: Any, x: torch.Tensor, target: Target, batch_size: int, progress: Progress
) -> tuple[torch.Tensor, torch.Tensor]:
    """Target scores ``(n,)`` and input gradients ``(n, c, t)`` of every case, in chunks."""
    scores = torch.empty(x.shape[0])
    grads = torch.empty_like(x)
    progress.start(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        s, g = model.gradient(x[start:stop], target.take(slice(start, stop)))
        scores[start:stop] = s.cpu()
        grads[start:stop] = g.cpu()
        progress.advance(stop - start)
    return scores, grads


def selected_scores(model: Any, x: torch.Tensor, target: Target, batch_size: int) -> torch.Tensor:
    """Target score of every case ``(n,)`` without gradients."""
    out = torch.empty(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        out[start:stop] = target.take(slice(start, stop)).select(model.scores(x[start:stop])).cpu()
    return out


def baseline_series(baseline: Any, x: torch.Tensor, name: str = "baseline") -> torch.Tensor:
    """Resolve a baseline to a tensor of the shape of ``x`` ``(n, c, t)``.

    ``"zeros"``: all zeros. ``"mean"``: each case's per-channel mean over time. A number: that
    constant. An array of shape (c, t), (n, c, t), (c, 1) or (n, c, 1): broadcast to ``x``.
    """
    if isinstance(baseline, str):
        if baseline == "zeros":
            return torch.zeros_like(x)
        if baseline == "mean":
            return x.mean(dim=-1, keepdim=True).expand_as(x).clone()
        raise ValueError(
            f"`{name}` must be 'zeros', 'mean', a number or an array; got {baseline!r}."
        )
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    array = torch.as_tensor(np.asarray(baseline, dtype=np.float32))
    if array.ndim == 2:
        array = array[None]
    try:
        result = torch.broadcast_to(array, x.shape).clone()
    except RuntimeError:
        raise ValueError(
            f"`{name}` of shape {tuple(np.shape(baseline))} does not broadcast to the series "
            f"shape (n_cases, n_channels, n_timepoints) = {tuple(x.shape)}. Pass an array of "
            "shape (n_channels, n_timepoints) or (n_cases, n_channels, n_timepoints)."
        ) from None
    if not torch.isfinite(result).all():
        raise ValueError(f"`{name}` holds NaN or infinite values.")
    return result
