"""The Model protocol: the only way a method talks to a model.

Every method is written once, in torch, against this protocol, and runs on every framework an
adapter exists for. Tensors handed to and returned by an adapter are torch tensors in the
chronolens layout ``(rows, n_channels, n_timepoints)``; activations are ``(rows, n_filters,
n_positions)`` whatever layout the framework uses inside.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from chronolens.targets import Target


@runtime_checkable
class Model(Protocol):
    """What chronolens needs from a model.

    Attributes
    ----------
    differentiable : bool
        False for black boxes; methods that need gradients then refuse with a clear error.
    device : torch.device
        Where tensors for the model should live.
    """

    differentiable: bool
    device: torch.device

    def session(self) -> AbstractContextManager[None]:
        """Enter explanation mode (eval mode, no parameter gradients); restore everything after."""
        ...

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Return the raw model output for ``x`` without building a graph."""
        ...

    def gradient(self, x: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the target score per row ``(rows,)`` and its gradient w.r.t. ``x``."""
        ...

    def layer_gradient(
        self, x: torch.Tensor, target: Target, layer: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return target scores, the layer's activation ``(rows, k, t')`` and its gradient."""
        ...

    def layer_output(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Return the layer's activation ``(rows, k, t')`` without building a graph."""
        ...

    def layers(self) -> list[str]:
        """Names of the layers, in the order the model defines them."""
        ...

    def resolve_layer(self, layer: object, n_channels: int, n_timepoints: int) -> str:
        """Return the name of ``layer`` (a name or a layer object), checking it has a time axis."""
        ...

    def default_cam_layer(self, n_channels: int, n_timepoints: int) -> str:
        """Return the last layer whose output still has a time axis."""
        ...

    def layer_centers(self, layer: str, n_channels: int, n_timepoints: int) -> np.ndarray | None:
        """Receptive-field centres of the layer's positions, if known without probing."""
        ...

    def row_bytes(self, n_channels: int, n_timepoints: int) -> tuple[int, int]:
        """Activation bytes one input row needs: (all activations, largest single tensor)."""
        ...
