"""Ablation-CAM: each filter weighted by how much the score drops when the filter is removed.

The filters of one layer are ablated one at a time (their activation replaced by zero, or by a
value far below the layer's minimum, for layers with negative activations, as pytorch-grad-cam
does) and the rest of the network is run on the edited activation; no gradients are needed.
"""

from __future__ import annotations

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_choice
from chronolens.attribution._result import MethodResult
from chronolens.attribution.cam import _in_input_time
from chronolens.models.base import Model
from chronolens.targets import Target

#: pytorch-grad-cam's offset below the activation minimum for ``ablation="min"``.
ABLATION_OFFSET = 1e7


def _ablated(activation: torch.Tensor, filters: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``activation`` with filter ``filters[r]`` of row ``r`` set to ``value[r]``."""
    edited = activation.clone()
    rows = torch.arange(len(filters), device=activation.device)
    edited[rows, filters.to(activation.device)] = value.to(activation)[:, None]
    return edited


def ablation_cam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    ablation: str = "zero",
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Ablation-CAM: ``ReLU(sum_k w_k A_k(t))`` with ``w_k = (y - y_k) / y``.

    ``y`` is the target score and ``y_k`` the score with filter ``k`` of the layer ablated.

    Parameters
    ----------
    ablation : {"zero", "min"}, default="zero"
        The ablated filter's value: zero, as the paper does, or pytorch-grad-cam's rule (zero
        when the layer's smallest activation in the case is zero, else that minimum minus 1e7),
        for layers whose activations can be negative.

    Notes
    -----
    Costs one pass of the network from the layer on per filter and case (the layers before it
    run again with each pass on torch; Keras graphs run the layer-to-output sub-model). A
    score of zero makes the weights infinite, as in the reference; explain a logit that is not
    zero, or use a callable target.

    References
    ----------
    Desai, Ramaswamy (2020). Ablation-CAM: visual explanations for deep convolutional network
    via gradient-free localization. WACV.
    """
    check_choice(ablation, "ablation", ("zero", "min"))
    n = x.shape[0]
    activation = torch.cat(
        [model.layer_output(x[s:e], layer).cpu() for s, e in chunks(n, batch_size)]
    )
    n_filters = activation.shape[1]
    original = torch.cat(
        [
            target.take(slice(s, e)).select(model.scores(x[s:e]).cpu())
            for s, e in chunks(n, batch_size)
        ]
    )
    minimum = activation.flatten(1).min(dim=1).values
    floor = torch.where(minimum == 0, 0.0, minimum - ABLATION_OFFSET)
    value = torch.zeros(n) if ablation == "zero" else floor
    ablated = torch.empty(n, n_filters)
    n_rows = n * n_filters
    progress.start(n_rows)
    for start, stop in chunks(n_rows, batch_size):
        rows = torch.arange(start, stop)
        case, filt = rows // n_filters, rows % n_filters

        def edit(
            a: torch.Tensor, filt: torch.Tensor = filt, case: torch.Tensor = case
        ) -> torch.Tensor:
            return _ablated(a, filt, value[case])

        output = model.edited_scores(x[case], layer, edit).cpu()
        ablated[case, filt] = target.take(case).select(output).float()
        progress.advance(stop - start)
    weights = (original[:, None] - ablated) / original[:, None]
    layer_map = (weights[..., None] * activation).sum(dim=1).clamp(min=0)
    result = _in_input_time(model, x, layer, layer_map, batch_size)
    result.case_extras["filter_weights"] = weights
    return result
