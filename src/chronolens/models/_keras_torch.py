"""Keras 3 on the torch backend: the torch adapter with Keras' layout, layer names and call.

A Keras model on the torch backend is a ``torch.nn.Module`` and its layers are modules, so the
torch adapter's sessions, hooks, layer table and gradients apply unchanged. A Sequential or
functional chain of common layers runs on its plain-torch twin instead
(:mod:`chronolens.models._keras_twin`): the same network from ``torch.nn`` layers, checked
against the Keras model, with the Keras layer names, so it costs what plain torch costs and
gets the exact incremental occlusion engine. ``KerasTorchModel(model, twin=False)`` keeps
every call on the Keras layers.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import torch

from chronolens.models._keras_base import KerasModel, keras_layers
from chronolens.models._keras_twin import KerasTwin, keras_twin
from chronolens.models._locks import model_lock
from chronolens.models.torch import TorchModel


class KerasTorchModel(KerasModel, TorchModel, backends=("torch",)):
    """A Keras 3 model on the torch backend: the torch adapter with Keras' layout and names.

    Parameters
    ----------
    model : keras.Model
    twin : bool, default=True
        Run a Sequential or functional chain of common layers on its checked plain-torch twin
        (the Keras layer names, torch's speed and incremental occlusion). False, or a model
        the twin does not reproduce, calls the Keras layers.
    """

    def __init__(self, model: Any, twin: bool = True) -> None:
        self._init_keras(model)
        self._twin: KerasTwin | None = keras_twin(model) if twin else None
        TorchModel.__init__(self, model if self._twin is None else self._twin.module)
        self.dtype = torch.float32

    def __repr__(self) -> str:
        text = KerasModel.__repr__(self)
        return text if self._twin is None else f"{text[:-1]}, twin='torch')"

    @property
    def uses_twin(self) -> bool:
        """Whether calls run on the plain-torch twin."""
        return self._twin is not None

    def _named_layers(self) -> dict[str, torch.nn.Module]:
        if self._twin is not None:
            return dict(self._twin.module.named_children())
        return keras_layers(self.model)

    def _name_of(self, layer: object, candidates: list[str]) -> str:
        if self._twin is not None and not isinstance(layer, str):
            for name, keras_layer in keras_layers(self.model).items():
                if keras_layer is layer:  # a Keras layer: its twin has its name
                    return TorchModel._name_of(self, name, candidates)
        return TorchModel._name_of(self, layer, candidates)

    def _eval_modules(self) -> list[torch.nn.Module]:
        if self._twin is not None:
            return TorchModel._eval_modules(self)
        return []  # Keras layers follow the call's training=False, not torch's flags

    def _locked_session(self) -> Any:
        if self._twin is not None and not self._depth:
            self._twin.refresh()  # a Keras weight assigned since: copy it (under the lock)
        yield from TorchModel._locked_session(self)

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        if self._twin is not None:
            self._check_shape(x)
            return TorchModel._to_model(self, x)
        return self._keras_input(x, self.device)

    def _from_model(self, value: torch.Tensor) -> torch.Tensor:
        if self._twin is not None:
            return TorchModel._from_model(self, value)
        return self._keras_output(value)

    def _to_layer(self, value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if self._twin is not None:
            return TorchModel._to_layer(self, value, like)
        return self._keras_activation(value, like.device).to(dtype=like.dtype)

    def _forward(self, inputs: torch.Tensor) -> Any:
        if self._twin is not None:
            return self._twin.module(inputs)
        return self.model(inputs, training=False)

    def expected_channels(self) -> int | None:
        """Input channels the model declares (for error messages)."""
        return KerasModel.expected_channels(self)

    def layer_centers(self, layer: str, n_channels: int, n_timepoints: int) -> np.ndarray | None:
        """Receptive-field centres from the Keras layers' configs (None: probe them)."""
        if self._twin is not None:
            return TorchModel.layer_centers(self, layer, n_channels, n_timepoints)
        n_positions = self._positions(layer, n_channels, n_timepoints)
        return self._chain_centers(self._named[layer], n_timepoints, n_positions)

    def sequential_view(self) -> torch.nn.Sequential | None:
        """The twin for the incremental occlusion engine (None on the Keras layers).

        The engine runs the twin's layers outside a session, so a Keras weight assigned since
        the last call is copied here (under the model's lock).
        """
        if self._twin is None:
            return None
        with model_lock(self.module):
            self._twin.refresh()
        return self._twin.module

    def cache_identity(self) -> tuple[object, Hashable]:
        """The Keras model and its layers' geometry."""
        if self._twin is not None:  # rebuilt whenever the layers change
            return self.model, ("twin", self._twin.module)
        return self.model, self._structure()
