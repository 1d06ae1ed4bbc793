"""Guided backpropagation and deconvnet: the gradient with the ReLUs' backward pass changed.

Both keep every layer's ordinary backward except the ReLUs' (``nn.ReLU`` modules; Keras
``ReLU`` layers, ``Activation("relu")`` and fused ``activation="relu"`` on the torch backend),
as Captum's ``GuidedBackprop`` and ``Deconvolution`` do:

- guided backpropagation passes back the ReLU's ordinary gradient with its negative values set
  to 0: only positive evidence, through units that were on;
- deconvnet passes back the arriving gradient with its negative values set to 0, whether the
  unit was on or not (the ReLU of Zeiler and Fergus' deconvolutional network).

The maps are sensitivities (not shares of the score): sharper than the plain gradient, but
largely independent of the class explained, so check them with the sanity checks.
"""

from __future__ import annotations

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens.attribution._common import concatenate
from chronolens.attribution._nonlinear_rules import Rules
from chronolens.attribution._result import MethodResult
from chronolens.attribution.deeplift import refuse_escapes
from chronolens.models.base import Model
from chronolens.targets import Target


def _modified_gradient(
    model: Model, x: torch.Tensor, target: Target, kind: str, batch_size: int, progress: Progress
) -> MethodResult:
    rules = Rules(kind)
    method = "Guided backpropagation" if kind == "guided" else "Deconvnet"
    grads = torch.empty_like(x)
    outputs = []
    progress.start(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        _, grad, output = model.rule_gradient(x[start:stop], target.take(slice(start, stop)), rules)
        refuse_escapes(rules, method, "Use nn.ReLU modules in the model (one or shared).")
        grads[start:stop] = grad.cpu()
        outputs.append(output)
        progress.advance(stop - start)
    return MethodResult(grads, output=concatenate(outputs))


def guided_backprop(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Guided backpropagation: the gradient with only positive signals passed back by ReLUs.

    A ReLU called as a function in ``forward`` (``F.relu``, ``torch.relu``), which no rule
    can reach, is refused.

    References
    ----------
    Springenberg, Dosovitskiy, Brox, Riedmiller (2015). Striving for simplicity: the all
    convolutional net. ICLR workshop.
    """
    return _modified_gradient(model, x, target, "guided", batch_size, progress)


def deconvnet(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Deconvnet: the gradient with ReLUs passing back the positive part of what arrives.

    A ReLU called as a function in ``forward`` (``F.relu``, ``torch.relu``), which no rule
    can reach, is refused.

    References
    ----------
    Zeiler, Fergus (2014). Visualizing and understanding convolutional networks. ECCV.
    """
    return _modified_gradient(model, x, target, "deconv", batch_size, progress)
