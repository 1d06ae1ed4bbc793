"""Class activation maps: CAM, Grad-CAM, Grad-CAM++, LayerCAM and Score-CAM.

Every variant reads the activation ``A`` of one layer, shape (n, filters, positions), and (except
Score-CAM) the gradient ``G`` of the target score with respect to it; each differs only in how it
weighs the filters, the one function it defines. The map on the layer's positions (kept in
``extras["layer_map"]``) is then carried to input time through the receptive fields of the layers
in between (see :mod:`chronolens.attribution._receptive_field`). The result has one map per case,
shared by all channels: shape (n, 1, n_timepoints).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._scaling import min_max
from chronolens._validation import check_bool
from chronolens.attribution._common import concatenate
from chronolens.attribution._receptive_field import layer_centers, to_input_time
from chronolens.attribution._result import MethodResult
from chronolens.models.base import Model
from chronolens.targets import Target

Weighting = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _run(
    model: Model,
    x: torch.Tensor,
    target: Target,
    layer: str,
    weighting: Weighting,
    batch_size: int,
    progress: Progress,
) -> MethodResult:
    """Compute ``weighting(A, G) -> (rows, positions)`` per chunk and align it to input time."""
    maps, outputs = [], []
    progress.start(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        _, activation, grad, output = model.layer_gradient(
            x[start:stop], target.take(slice(start, stop)), layer
        )
        maps.append(weighting(activation.cpu(), grad.cpu()))
        outputs.append(output)
        progress.advance(stop - start)
    result = _in_input_time(model, x, layer, torch.cat(maps), batch_size)
    result.output = concatenate(outputs)
    return result


def _in_input_time(
    model: Model, x: torch.Tensor, layer: str, layer_map: torch.Tensor, batch_size: int
) -> MethodResult:
    _, n_channels, n_timepoints = x.shape
    centres, how = layer_centers(model, layer, n_channels, n_timepoints, batch_size)
    attributions = to_input_time(layer_map, centres, n_timepoints)[:, None, :]
    return MethodResult(
        attributions,
        extras={"layer": layer, "alignment": how, "layer_centers": centres},
        case_extras={"layer_map": layer_map},
    )


def _grad_cam_weighting(relu: bool) -> Weighting:
    def weighting(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        weights = grad.mean(dim=-1, keepdim=True)
        cam = (weights * activation).sum(dim=1)
        return cam.clamp(min=0) if relu else cam

    return weighting


def grad_cam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    relu: bool = True,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Grad-CAM: filters weighted by their time-averaged gradient.

    ``ReLU(sum_k mean_t(G_k) A_k(t))``: where in time the layer's features raise the target score.
    Non-negative by default; ``relu=False`` keeps the negative evidence.

    Parameters
    ----------
    layer : str
        The layer (by default, the last one whose output has a time axis).
    relu : bool, default=True
        Keep only positive evidence, as in the paper.

    References
    ----------
    Selvaraju et al. (2017). Grad-CAM: visual explanations from deep networks via gradient-based
    localization. ICCV.
    """
    check_bool(relu, "relu")
    return _run(model, x, target, layer, _grad_cam_weighting(relu), batch_size, progress)


def _grad_cam_pp(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    grad2 = grad.pow(2)
    denominator = 2 * grad2 + activation.sum(dim=-1, keepdim=True) * grad.pow(3)
    safe = torch.where(denominator != 0, denominator, torch.ones_like(denominator))
    alpha = torch.where(denominator != 0, grad2 / safe, torch.zeros_like(grad2))
    weights = (alpha * grad.clamp(min=0)).sum(dim=-1, keepdim=True)
    return (weights * activation).sum(dim=1).clamp(min=0)


def grad_cam_pp(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Grad-CAM++: filters weighted by positive gradients with per-position coefficients.

    ``w_k = sum_t alpha_k(t) ReLU(G_k(t))`` with ``alpha = G^2 / (2 G^2 + sum_t A_k G^3)``, the
    closed form of the paper for an exponential of the score; better than Grad-CAM when a class
    shows several separate events in one series.

    References
    ----------
    Chattopadhay, Sarkar, Howlader, Balasubramanian (2018). Grad-CAM++: generalized
    gradient-based visual explanations for deep convolutional networks. WACV.
    """
    return _run(model, x, target, layer, _grad_cam_pp, batch_size, progress)


def _layer_cam(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    return (grad.clamp(min=0) * activation).sum(dim=1).clamp(min=0)


def layer_cam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """LayerCAM: each position weighted by its own positive gradient.

    ``ReLU(sum_k ReLU(G_k(t)) A_k(t))``; sharper than Grad-CAM on early layers.

    References
    ----------
    Jiang, Zhang, Hou, Cheng, Wei (2021). LayerCAM: exploring hierarchical class activation maps
    for localization. IEEE Transactions on Image Processing.
    """
    return _run(model, x, target, layer, _layer_cam, batch_size, progress)


def cam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Class activation map (CAM) of a network ending in global average pooling + linear.

    ``sum_k w_k A_k(t)`` with ``w_k`` the linear layer's weight for the target class, so the map's
    mean over the layer's positions plus the class bias is exactly the class score. Signed:
    negative where the layer's features speak against the class.

    The head is checked, not assumed: the gradient of the score with respect to the activation
    must be the same at every position and for every input (what global average pooling + a
    linear layer give), else a ValueError suggests ``grad_cam``. This also holds for a
    Keras model and needs no knowledge of the layers' names.

    References
    ----------
    Zhou, Khosla, Lapedriza, Oliva, Torralba (2016). Learning deep features for discriminative
    localization. CVPR. Wang, Yan, Oates (2017). Time series classification from scratch with deep
    neural networks: a strong baseline. IJCNN.
    """
    maps = []
    weights = []
    progress.start(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        rows = target.take(slice(start, stop))
        _, activation, grad, _ = model.layer_gradient(x[start:stop], rows, layer)
        activation, grad = activation.cpu(), grad.cpu()
        n_positions = grad.shape[-1]
        weight = grad.mean(dim=-1, keepdim=True)
        scale = grad.abs().max().clamp(min=1e-12)
        if (grad - weight).abs().max() > 1e-4 * scale:
            raise ValueError(
                f"'cam' needs the target score to be a global average of layer {layer!r} followed "
                "by a linear layer, but its gradient changes along time: the layer is not followed "
                "by global average pooling + linear. Use 'grad_cam', which works on any layer."
            )
        # An affine head has the same gradient at any input: check it at a zero series too.
        grad_zero = model.layer_gradient(torch.zeros_like(x[start:stop]), rows, layer).grad
        if (grad_zero.cpu() - grad).abs().max() > 1e-4 * scale:
            raise ValueError(
                f"'cam' needs the target score to be a linear function of the global average of "
                f"layer {layer!r}, but its gradient depends on the input (a softmax output or a "
                "non-linear head?). Explain the logits, or use 'grad_cam'."
            )
        weights.append(weight[..., 0] * n_positions)
        maps.append((weight * n_positions * activation).sum(dim=1))
        progress.advance(stop - start)
    result = _in_input_time(model, x, layer, torch.cat(maps), batch_size)
    result.case_extras["class_weights"] = torch.cat(weights)
    return result


def score_cam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Score-CAM: filters weighted by the score of the input masked by each filter's map.

    Each filter's activation is carried to input time, scaled to [0, 1], and multiplies the
    series; the target's probability for that masked series (softmax of the output, unless the
    output already is probabilities; the raw score for a callable target) is the filter's weight.
    ``ReLU(sum_k w_k A_k(t))``. Needs no gradients; costs one forward pass per filter and case.

    References
    ----------
    Wang et al. (2020). Score-CAM: score-weighted visual explanations for convolutional neural
    networks. CVPR workshops.
    """
    n, n_channels, n_timepoints = x.shape
    centres, _ = layer_centers(model, layer, n_channels, n_timepoints, batch_size)
    maps: list[torch.Tensor] = []
    # Cases go in blocks of about batch_size // filters, so that the masks (cases x filters x
    # time) never exceed one batch of inputs, whatever the number of cases.
    start, block = 0, 1  # one case first: it tells how many filters the layer has
    while start < n:
        stop = min(n, start + block)
        activation = model.layer_output(x[start:stop], layer).cpu()
        n_filters = activation.shape[1]
        if start == 0:
            progress.start(n * n_filters)
        weights = _score_weights(
            model,
            x[start:stop],
            target.take(slice(start, stop)),
            activation,
            centres,
            batch_size,
            progress,
        )
        maps.append((weights[..., None] * activation).sum(dim=1).clamp(min=0))
        start, block = stop, max(1, batch_size // n_filters)
    return _in_input_time(model, x, layer, torch.cat(maps), batch_size)


def _score_weights(
    model: Model,
    x: torch.Tensor,
    target: Target,
    activation: torch.Tensor,
    centres: np.ndarray,
    batch_size: int,
    progress: Progress,
) -> torch.Tensor:
    """Each filter's weight: the target's probability for the series masked by its map."""
    n, n_filters = activation.shape[:2]
    masks = min_max(to_input_time(activation, centres, x.shape[-1]))
    weights = torch.empty(n, n_filters)
    for start, stop in chunks(n * n_filters, batch_size):
        rows = torch.arange(start, stop)
        case, filt = rows // n_filters, rows % n_filters
        output = model.scores(x[case] * masks[case, filt][:, None, :]).cpu()
        weights[case, filt] = target.take(case).select(_probabilities(output, target))
        progress.advance(stop - start)
    return weights


def _probabilities(output: torch.Tensor, target: Target) -> torch.Tensor:
    if target.fn is not None or output.ndim != 2:
        return output
    is_probability = bool(
        (output >= 0).all()
        and torch.allclose(output.sum(dim=1), torch.ones(len(output)), atol=1e-4)
    )
    return output if is_probability else torch.softmax(output, dim=1)
