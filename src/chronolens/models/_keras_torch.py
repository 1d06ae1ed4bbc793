"""Keras 3 on the torch backend: the torch adapter with Keras' layout, layer names and call.

A Keras model on the torch backend is a ``torch.nn.Module`` and its layers are modules, so the
torch adapter's sessions, hooks, layer table and gradients apply unchanged.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import torch

from chronolens.models._keras_base import KerasModel, keras_layers
from chronolens.models.torch import TorchModel


class KerasTorchModel(KerasModel, TorchModel, backends=("torch",)):
    """A Keras 3 model on the torch backend: the torch adapter with Keras' layout and names."""

    def __init__(self, model: Any) -> None:
        self._init_keras(model)
        TorchModel.__init__(self, model)
        self.dtype = torch.float32

    def __repr__(self) -> str:
        return KerasModel.__repr__(self)

    def _named_layers(self) -> dict[str, torch.nn.Module]:
        return keras_layers(self.model)

    def _eval_modules(self) -> list[torch.nn.Module]:
        return []  # Keras layers follow the call's training=False, not torch's flags

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        return self._keras_input(x, self.device)

    def _from_model(self, value: torch.Tensor) -> torch.Tensor:
        return self._keras_output(value)

    def _to_layer(self, value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return self._keras_activation(value, like.device).to(dtype=like.dtype)

    def _forward(self, inputs: torch.Tensor) -> Any:
        return self.model(inputs, training=False)

    def expected_channels(self) -> int | None:
        """Input channels the model declares (for error messages)."""
        return KerasModel.expected_channels(self)

    def layer_centers(self, layer: str, n_channels: int, n_timepoints: int) -> np.ndarray | None:
        """Receptive-field centres from the Keras layers' configs (None: probe them)."""
        n_positions = self._positions(layer, n_channels, n_timepoints)
        return self._chain_centers(self._named[layer], n_timepoints, n_positions)

    def sequential_view(self) -> torch.nn.Sequential | None:
        """None: the incremental occlusion engine reads torch layers only."""
        return None

    def cache_identity(self) -> tuple[object, Hashable]:
        """The Keras model and its layers' geometry."""
        return self.model, self._structure()
