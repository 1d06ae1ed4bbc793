"""Feature ablation over equal time segments."""

from __future__ import annotations

from typing import Any

import torch

from chronolens._progress import SILENT, Progress
from chronolens._validation import check_choice, resolve_seed
from chronolens.attribution._perturbation import score_drops
from chronolens.attribution._result import MethodResult
from chronolens.attribution._segments import CHANNEL_MODES, equal_segments
from chronolens.baselines import replacement
from chronolens.models.base import Model
from chronolens.targets import Target


def feature_ablation(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    n_segments: int = 10,
    channels: str = "each",
    baseline: Any = "zeros",
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Feature ablation: the score drop when one segment is replaced by a baseline.

    The series is cut into ``n_segments`` contiguous segments of (nearly) equal length; each
    segment, in one channel (``channels="each"``) or in all channels together (``"all"``), is
    replaced in turn. Every point of a segment gets the segment's ``f(x) - f(x ablated)``, as in
    Captum's ``FeatureAblation`` with a feature mask. Works on any model; convolutional
    PyTorch models take the exact incremental engines of :func:`occlusion`
    (``extras["occlusion_path"]``: ``"incremental-chain"``, ``"incremental-graph"`` or
    ``"full"``).

    Parameters
    ----------
    n_segments : int, default=10
        Segments per channel.
    channels : {"each", "all"}, default="each"
        Ablate each channel's segments separately, or all channels' segment together (a map
        shared by all channels).
    baseline : {"zeros", "mean", "noise", "local_mean"}, float or array, default="zeros"
        Replacement values, as for ``occlusion`` (``"local_mean"``: the segment's mean).
    seed : int, optional
        Seed of the ``"noise"`` baseline.
    """
    check_choice(channels, "channels", CHANNEL_MODES)
    _, n_channels, n_timepoints = x.shape
    segments = equal_segments(n_channels, n_timepoints, n_segments, channels)
    values = replacement(baseline, x, seed=resolve_seed(seed))
    drops, _, path = score_drops(model, x, target, segments, values, batch_size, progress)
    attributions = segments.spread(drops, n_channels, n_timepoints, average=False)
    if channels == "all":
        attributions = attributions[:, :1]
    return MethodResult(
        attributions,
        extras={
            "occlusion_path": path,
            "segment_edges": [*segments.start[:n_segments].tolist(), n_timepoints],
        },
        case_extras={"segment_drops": drops},
    )
