"""The Keras adapter's common part: layout, declared input, layer names, geometry.

:class:`KerasModel` returns the subclass registered for the backend Keras runs on (each backend
module registers its class by subclassing with ``backends=(...)``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from chronolens.models._keras_geometry import chain_centers, chain_fields
from chronolens.models._randomize import keras_randomized, keras_weight_layers

BACKENDS = ("torch", "tensorflow", "jax")
_BY_BACKEND: dict[str, type] = {}


def is_keras_model(model: Any) -> bool:
    """True if ``model`` is a Keras 3 model (checked without importing Keras)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, getattr(keras, "Model", ()))


def _sublayers(layer: Any) -> Iterator[Any]:
    for child in getattr(layer, "layers", []) or []:
        yield child
        yield from _sublayers(child)


def declared_input(model: Any) -> tuple[Any, ...] | None:
    """The model's input shape without the batch axis, when it has a single known input."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs and len(inputs) == 1:
        return tuple(inputs[0].shape[1:])
    shapes = getattr(model, "_build_shapes_dict", None)
    if isinstance(shapes, dict) and len(shapes) == 1:
        shape = next(iter(shapes.values()))
        if isinstance(shape, (tuple, list)) and len(shape) == 3:
            return tuple(shape[1:])
    return None


def keras_layers(model: Any) -> dict[str, Any]:
    """The model's top-level layers by Keras name (input layers excluded)."""
    return {layer.name: layer for layer in model.layers if type(layer).__name__ != "InputLayer"}


class KerasModel:
    """Wrap a Keras 3 model so that chronolens methods can use it.

    Parameters
    ----------
    model : keras.Model
        A built classifier (Sequential, functional, or subclassed and called once) taking one
        input of shape ``(batch, n_timepoints, n_channels)`` (or channels first when its layers
        use ``data_format="channels_first"``) and returning class scores ``(batch, n_classes)``.

    Notes
    -----
    ``KerasModel(model)`` returns a :class:`KerasTorchModel` or a :class:`KerasGraphModel`
    depending on the backend. CAM methods read layers by their Keras names (``model.layers``). On
    TensorFlow and JAX this needs a functional or Sequential model; on the torch backend any
    model works.
    """

    backend: str
    channels_last: bool
    model: Any

    def __new__(cls, model: Any, *args: Any, **kwargs: Any) -> Any:
        if cls is KerasModel:
            if not is_keras_model(model):
                raise TypeError(f"KerasModel needs a keras.Model; got {type(model).__name__}.")
            backend = sys.modules["keras"].backend.backend()
            if backend not in BACKENDS:
                raise ValueError(
                    f"Keras runs on the {backend!r} backend, which has no gradients. Set "
                    "KERAS_BACKEND to 'torch', 'tensorflow' or 'jax' before importing keras."
                )
            if backend not in _BY_BACKEND:
                raise RuntimeError(
                    "Import chronolens.models.keras (not its private modules) to adapt Keras "
                    "models."
                )
            cls = _BY_BACKEND[backend]
        return object.__new__(cls)

    def __init_subclass__(cls, *, backends: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for backend in backends:
            _BY_BACKEND[backend] = cls

    def _init_keras(self, model: Any) -> None:
        self.model = model
        self.backend = sys.modules["keras"].backend.backend()
        formats = {
            getattr(layer, "data_format", None)
            for layer in _sublayers(model)
            if getattr(layer, "data_format", None) is not None
        }
        self.channels_last = formats != {"channels_first"}
        self._declared = declared_input(model)

    def __repr__(self) -> str:
        return f"KerasModel({type(self.model).__name__}, backend={self.backend!r})"

    # ------------------------------------------------------------------ layout
    def _check_shape(self, x: torch.Tensor) -> None:
        if self._declared is None or len(self._declared) != 2:
            return
        _, c, t = x.shape
        declared_t, declared_c = self._declared if self.channels_last else self._declared[::-1]
        problems = []
        if declared_c is not None and declared_c != c:
            problems.append(f"{declared_c} channels, got {c}")
        if declared_t is not None and declared_t != t:
            problems.append(f"{declared_t} time points, got {t}")
        if problems:
            order = "(batch, time, channels)" if self.channels_last else "(batch, channels, time)"
            raise ValueError(
                f"The Keras model's input shape is {(None, *self._declared)}, i.e. {order}: it "
                f"expects {' and '.join(problems)}"
            )

    def _keras_input(self, x: torch.Tensor, device: torch.device) -> torch.Tensor:
        self._check_shape(x)
        x = x.detach().to(device=device, dtype=torch.float32)
        return (x.transpose(1, 2) if self.channels_last else x).contiguous()

    def _keras_activation(self, value: torch.Tensor, device: torch.device) -> torch.Tensor:
        """An activation in the chronolens layout -> the layer's own layout (inverse of output)."""
        value = value.detach().to(device=device, dtype=torch.float32)
        return (
            value.transpose(1, 2) if self.channels_last and value.ndim == 3 else value
        ).contiguous()

    def _keras_output(self, value: torch.Tensor) -> torch.Tensor:
        value = value.float()
        return value.transpose(1, 2) if self.channels_last and value.ndim == 3 else value

    def expected_channels(self) -> int | None:
        """Input channels the model declares (for error messages)."""
        if self._declared is None or len(self._declared) != 2:
            return None
        value = self._declared[-1] if self.channels_last else self._declared[0]
        return int(value) if value is not None else None

    def _chain_centers(self, layer: Any, n_timepoints: int, n_positions: int | None) -> Any:
        if not self.channels_last or n_positions is None:
            return None
        centres = chain_centers(self.model, layer, n_timepoints)
        if centres is None or len(centres) != n_positions:
            return None
        return centres

    def layer_fields(
        self, layer: str, n_channels: int, n_timepoints: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Receptive-field bounds of the layer's positions from the layers' configs, if known.

        TensorFlow's max pooling drops NaN, so probing with NaN cannot measure them there.
        """
        named = keras_layers(self.model)
        if not self.channels_last or layer not in named:
            return None
        return chain_fields(self.model, named[layer], n_timepoints)

    def sequential_view(self) -> torch.nn.Sequential | None:
        """None: the incremental occlusion engine reads torch layers only."""
        return None

    def weight_layers(self, x: torch.Tensor) -> list[str]:
        """Layers owning trainable weights (nested ones as ``outer/inner``), in layer order."""
        return keras_weight_layers(self.model)

    def randomized(self, layers: Sequence[str], seed: int, clone: Callable | None = None) -> Any:
        """A clone of the Keras model with ``layers`` re-drawn in PyTorch's weight layout."""
        return keras_randomized(self.model, layers, seed, clone)

    def _structure(self) -> Hashable:
        """Each layer's name, class and time geometry (what receptive fields depend on)."""
        keys = ("kernel_size", "strides", "padding", "dilation_rate", "pool_size", "data_format")
        return tuple(
            (layer.name, type(layer).__name__, *(repr(getattr(layer, k, None)) for k in keys))
            for layer in _sublayers(self.model)
        )
