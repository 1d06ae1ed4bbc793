"""More of the CAM family on 1-D layers: XGrad-CAM, HiRes-CAM and Eigen-CAM.

Each reads the activation ``A`` (n, filters, positions) of one layer, as the other CAM methods
in :mod:`chronolens.attribution.cam` do, and differs in how it weighs the filters; the map on
the layer's positions is carried to input time through the receptive fields. The weightings
follow pytorch-grad-cam's definitions, with the spatial axes replaced by the time axis.
"""

from __future__ import annotations

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens.attribution._result import MethodResult
from chronolens.attribution.cam import _in_input_time, _run
from chronolens.models.base import Model
from chronolens.targets import Target

#: Added to XGrad-CAM's denominator, as pytorch-grad-cam does.
XGRAD_EPS = 1e-7


def _xgrad_cam(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    weights = (grad * activation).sum(dim=-1, keepdim=True)
    weights = weights / (activation.sum(dim=-1, keepdim=True) + XGRAD_EPS)
    return (weights * activation).sum(dim=1).clamp(min=0)


def xgrad_cam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """XGrad-CAM: filters weighted by their activation-weighted gradient.

    ``ReLU(sum_k w_k A_k(t))`` with ``w_k = sum_t G_k(t) A_k(t) / (sum_t A_k(t) + 1e-7)``, the
    weights for which the map satisfies the paper's sensitivity and conservation axioms for
    ReLU networks.

    References
    ----------
    Fu, Hu, Zhang, Lin, Chen, Ye (2020). Axiom-based Grad-CAM: towards accurate visualization
    and explanation of CNNs. BMVC.
    """
    return _run(model, x, target, layer, _xgrad_cam, batch_size, progress)


def _hires_cam(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    return (grad * activation).sum(dim=1).clamp(min=0)


def hires_cam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """HiRes-CAM: the gradient times the activation at each position, summed over filters.

    ``ReLU(sum_k G_k(t) A_k(t))``: Grad-CAM without the time average of the gradient, so the
    map shows only positions the score depends on (for a Flatten -> Linear head it is exactly
    each position's contribution to the score).

    References
    ----------
    Draelos, Carin (2020). Use HiResCAM instead of Grad-CAM for faithful explanations of
    convolutional neural networks. arXiv:2011.08891.
    """
    return _run(model, x, target, layer, _hires_cam, batch_size, progress)


def eigen_projection(activation: torch.Tensor) -> torch.Tensor:
    """Each case's activation (filters, positions) projected on its first principal axis.

    The positions are the samples: the activation, centred over positions, is factorised by
    SVD and projected on the first right singular vector. The sign of a singular vector is
    arbitrary; it is chosen so that the projection correlates positively with the total
    activation over filters (ties: positive sum). Then ReLU, as in pytorch-grad-cam.
    """
    samples = activation.transpose(1, 2).double()  # (n, positions, filters)
    centred = samples - samples.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    projection = (centred @ vh[:, 0, :, None])[..., 0]  # (n, positions)
    total = activation.double().sum(dim=1)
    agreement = ((total - total.mean(dim=1, keepdim=True)) * projection).sum(dim=1)
    agreement = torch.where(agreement == 0, projection.sum(dim=1), agreement)
    sign = torch.where(agreement < 0, -1.0, 1.0).to(projection.dtype)
    return (projection * sign[:, None]).clamp(min=0).float()


def eigen_cam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Eigen-CAM: the layer's first principal component over time; class-agnostic.

    Needs no gradients and ignores ``target``: it shows where the layer's features vary most,
    which is where a well-trained network's evidence usually is, but it is the same map for
    every class (see :func:`eigen_projection` for the sign rule).

    References
    ----------
    Muhammad, Yeasin (2020). Eigen-CAM: class activation map using principal components.
    IJCNN.
    """
    n = x.shape[0]
    progress.start(n)
    maps = []
    for start, stop in chunks(n, batch_size):
        maps.append(eigen_projection(model.layer_output(x[start:stop], layer).cpu()))
        progress.advance(stop - start)
    return _in_input_time(model, x, layer, torch.cat(maps), batch_size)
