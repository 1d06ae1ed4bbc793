"""Model adapters: every supported model seen through one protocol."""

from __future__ import annotations

from typing import Any

from chronolens.models.base import Model
from chronolens.models.torch import TorchModel

__all__ = ["Model", "TorchModel", "adapt"]


def adapt(model: Any) -> Model:
    """Wrap a user model in the adapter that fits it.

    Parameters
    ----------
    model : torch.nn.Module or Model
        A PyTorch classifier, or an object that already follows the :class:`Model` protocol
        (returned unchanged).

    Returns
    -------
    Model

    Raises
    ------
    TypeError
        If no adapter fits the model.
    """
    if isinstance(model, TorchModel) or (
        isinstance(model, Model) and hasattr(model, "differentiable")
    ):
        return model
    import torch

    if isinstance(model, torch.nn.Module):
        return TorchModel(model)
    raise TypeError(
        f"chronolens cannot explain a {type(model).__module__}.{type(model).__name__}: pass a "
        "torch.nn.Module whose output is class scores (n_cases, n_classes)."
    )
