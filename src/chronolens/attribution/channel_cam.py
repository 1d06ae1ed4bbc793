"""Channel x time Grad-CAM for any CNN: each input channel's share of the class activation map.

Grad-CAM on a layer after the first convolution cannot tell channels apart: the first
convolution mixes all of them. ``channel_grad_cam`` keeps the Grad-CAM filter weights of the
original series fixed and asks, for every input channel, how much of the (signed) class activation
map at each layer position disappears when that channel alone is replaced by a baseline. The map
has the temporal precision of the CAM and one row per channel, and needs no retraining.
"""

from __future__ import annotations

from typing import Any

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_bool
from chronolens.attribution._receptive_field import layer_centers, to_input_time
from chronolens.attribution._result import MethodResult
from chronolens.baselines import replacement
from chronolens.models.base import Model
from chronolens.targets import Target


def channel_grad_cam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    baseline: Any = "mean",
    relu: bool = False,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Channel x time Grad-CAM: each channel's contribution to the class activation map.

    With ``A`` the layer's activation (filters ``k`` x positions ``j``) and ``w_k`` the Grad-CAM
    weights (the time-averaged gradient of the target score), the un-rectified class activation
    map is ``S(j) = sum_k w_k A_k(j)``. For channel ``c``, ``S_c(j)`` is the same sum, with the
    same weights, for the series whose channel ``c`` alone is replaced by ``baseline``. The map

        ``M[c, j] = S(j) - S_c(j)``

    is how much of the class activation at position ``j`` channel ``c`` provides: positive where
    the channel's values raise the class evidence there, negative where they lower it, zero where
    the channel does not matter. It is carried to input time through the receptive fields
    (as for ``grad_cam``), so it is as precise in time as Grad-CAM and adds the channel.
    ``relu=True`` keeps only positive contributions. The Grad-CAM map itself (``ReLU(S)``, on the
    layer's positions) is in ``extras["layer_map"]`` and each channel's contribution on the layer's
    positions in ``extras["channel_layer_map"]``.

    Costs one forward + backward pass and ``n_channels`` forward passes per case. Works on any
    network with a layer that keeps a time axis (the first convolution need not be special).
    On the user's architecture, trained on ``make_sensor_events``, it scores an average
    precision of 0.67 against the planted events where ``saliency`` scores 0.34 and
    ``grad_cam`` (shared by all channels) 0.09 (``benchmarks/channel_maps.py``).

    Parameters
    ----------
    layer : str
        The layer (by default, the last one whose output has a time axis).
    baseline : {"mean", "zeros"}, float or array, default="mean"
        What an ablated channel is replaced by: "mean" its own mean over time (the channel
        carries no pattern, only its level), "zeros", a constant, or an array of the shape of
        the series.
    relu : bool, default=False
        Keep only positive contributions.

    Raises
    ------
    ValueError
        For a bad ``baseline``.
    """
    check_bool(relu, "relu")
    n, n_channels, n_timepoints = x.shape
    reference = replacement(baseline, x, allowed=("mean", "zeros", "blur"))
    assert reference is not None
    n_rows = n * (1 + n_channels)
    progress.start(n_rows)
    weights, full = [], []
    for start, stop in chunks(n, batch_size):
        _, activation, grad, _ = model.layer_gradient(
            x[start:stop], target.take(slice(start, stop)), layer
        )
        weight = grad.cpu().mean(dim=-1, keepdim=True)
        weights.append(weight)
        full.append((weight * activation.cpu()).sum(dim=1))
        progress.advance(stop - start)
    weight = torch.cat(weights)  # (n, k, 1)
    cam = torch.cat(full)  # (n, positions)
    contribution = torch.empty(n, n_channels, cam.shape[-1])
    n_ablated = n * n_channels
    for start, stop in chunks(n_ablated, batch_size):
        rows = torch.arange(start, stop)
        case, channel = rows // n_channels, rows % n_channels
        ablated = x[case].clone()
        ablated[torch.arange(len(rows)), channel] = reference[case, channel]
        activation = model.layer_output(ablated, layer).cpu()
        without = (weight[case] * activation).sum(dim=1)
        contribution[case, channel] = cam[case] - without
        progress.advance(stop - start)
    if relu:
        contribution = contribution.clamp(min=0)
    centres, how = layer_centers(model, layer, n_channels, n_timepoints, batch_size)
    attributions = to_input_time(contribution, centres, n_timepoints)
    return MethodResult(
        attributions,
        extras={"layer": layer, "alignment": how, "layer_centers": centres},
        case_extras={"layer_map": cam.clamp(min=0), "channel_layer_map": contribution},
    )
