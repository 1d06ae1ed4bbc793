"""Model adapters: every supported model seen through one protocol."""

from __future__ import annotations

from typing import Any

from chronolens.models.base import Model
from chronolens.models.blackbox import BlackBoxModel
from chronolens.models.torch import TorchModel

__all__ = ["BlackBoxModel", "Model", "TorchModel", "adapt"]


def adapt(model: Any) -> Model:
    """Wrap a user model in the adapter that fits it.

    Parameters
    ----------
    model : torch.nn.Module, keras.Model, object with ``predict_proba``, callable, or Model
        A PyTorch classifier; a Keras 3 model on any backend (``KerasModel``); any
        classifier with ``predict_proba`` (aeon, sktime, scikit-learn) or a callable
        returning scores (rows, n_classes) for series (rows, n_channels, n_timepoints), for
        the model-agnostic methods; or an object that already follows the :class:`Model`
        protocol (returned unchanged).

    Returns
    -------
    Model

    Raises
    ------
    TypeError
        If no adapter fits the model.
    """
    if isinstance(model, (TorchModel, BlackBoxModel)) or (
        isinstance(model, Model) and hasattr(model, "differentiable")
    ):
        return model
    from chronolens.models.keras import KerasModel, is_keras_model

    if is_keras_model(model):  # before torch: on the torch backend it is also a Module
        return KerasModel(model)
    import torch

    if isinstance(model, torch.nn.Module):
        return TorchModel(model)
    if hasattr(model, "predict_proba") or callable(model):
        return BlackBoxModel(model)
    raise TypeError(
        f"chronolens cannot explain a {type(model).__module__}.{type(model).__name__}: pass a "
        "torch.nn.Module whose output is class scores (n_cases, n_classes), an estimator with "
        "predict_proba, or a callable returning such scores."
    )
