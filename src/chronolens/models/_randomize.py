"""Re-drawn weights for the model-randomization sanity check, always on a copy of the model.

One rule serves every framework, so a Keras model and its PyTorch twin with the same weights
get the same random weights: layer ``name`` draws from
``numpy.random.default_rng([seed, crc32(name)])`` (the same draw whichever stage or order
randomizes it), in PyTorch's weight layout (``(out, in, *kernel)``; a Keras kernel
``(*kernel, in, out)`` is transposed into it and back).

- Normalisation layers (batch, layer, group norm): scale and shift are redrawn from a normal
  distribution with the trained values' mean and standard deviation (at least 0.1); running
  statistics are kept.
- Every other weight of two or more axes: uniform in ``+-1 / sqrt(fan_in)`` (PyTorch's default
  initialisation range), ``fan_in`` being the size of one output unit's weights.
- Vectors (biases): uniform in ``+-1 / sqrt(size)``.
"""

from __future__ import annotations

import copy
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

_TORCH_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
_KERAS_NORMS = ("BatchNormalization", "LayerNormalization", "GroupNormalization")


class UncopyableModelError(ValueError):
    """The model cannot be copied, so its weights cannot be randomized safely."""


def layer_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of layer ``name``'s new weights."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def redraw(values: np.ndarray, norm: bool, rng: np.random.Generator) -> np.ndarray:
    """New values for one weight in PyTorch's layout (see the module docstring)."""
    values = np.asarray(values, dtype=np.float64)
    if norm:
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        return float(values.mean()) + max(std, 0.1) * rng.standard_normal(values.shape)
    fan_in = int(np.prod(values.shape[1:])) if values.ndim >= 2 else max(values.size, 1)
    bound = 1.0 / np.sqrt(max(fan_in, 1))
    return rng.uniform(-bound, bound, values.shape)


def _uncopyable(model: Any, error: Exception) -> UncopyableModelError:
    return UncopyableModelError(
        f"The model ({type(model).__name__}) cannot be copied ({type(error).__name__}: "
        f"{error}), and the randomization test never modifies the model itself. Pass "
        "`clone=` returning a fresh copy, e.g. `clone=lambda: load_model(path)`."
    )


def _fresh(model: Any, clone: Callable[[], Any] | None, kind: type | tuple[type, ...]) -> Any:
    fresh = clone()  # type: ignore[misc]
    if fresh is model or not isinstance(fresh, kind):
        raise TypeError(
            "`clone` must return a new model equal to the model, e.g. "
            "`lambda: load_model(path)`; it returned "
            f"{'the model itself' if fresh is model else type(fresh).__name__}."
        )
    return fresh


# ---------------------------------------------------------------------- PyTorch
def _torch_owners(module: nn.Module) -> dict[str, nn.Module]:
    return {
        name: m
        for name, m in module.named_modules()
        if name and any(True for _ in m.parameters(recurse=False))
    }


def torch_copy(module: nn.Module, clone: Callable[[], Any] | None = None) -> nn.Module:
    """A deep copy of the module (or ``clone()``); only copies are ever randomized."""
    if clone is not None:
        fresh: nn.Module = _fresh(module, clone, nn.Module)
        return fresh
    if isinstance(module, torch.jit.ScriptModule):
        # A deep copy of a TorchScript module shares its graph and cannot be re-explained.
        raise UncopyableModelError(
            "A TorchScript module cannot be copied for the randomization test, which never "
            "modifies the model itself. Pass `clone=lambda: torch.jit.load(path)`."
        )
    try:
        return copy.deepcopy(module)
    except Exception as error:
        raise _uncopyable(module, error) from error


def torch_weight_layers(module: nn.Module, ran: Sequence[str]) -> list[str]:
    """Modules that own parameters, in the order ``ran`` lists them.

    ``ran`` is the forward pass's order of completion; modules that did not run (all of them
    for TorchScript, which has no hooks) follow in definition order.
    """
    owners = _torch_owners(module)
    seen = [name for name in dict.fromkeys(ran) if name in owners]
    return seen + [name for name in owners if name not in seen]


def torch_randomized(
    module: nn.Module, layers: Sequence[str], seed: int, clone: Callable[[], Any] | None = None
) -> nn.Module:
    """A copy of ``module`` with the parameters of ``layers`` re-drawn."""
    fresh = torch_copy(module, clone)
    owners = _torch_owners(fresh)
    with torch.no_grad():
        for name in layers:
            layer = owners[name]
            rng = layer_rng(seed, name)
            norm = isinstance(layer, _TORCH_NORMS)
            for parameter in layer.parameters(recurse=False):
                new = redraw(parameter.detach().cpu().double().numpy(), norm, rng)
                parameter.copy_(torch.from_numpy(new).to(parameter.dtype))
    return fresh


# ---------------------------------------------------------------------- Keras 3
def _keras_leaves(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, layer)`` of every layer without sublayers, paths joined with '/'."""
    for layer in getattr(model, "layers", []) or []:
        path = f"{prefix}{layer.name}"
        if getattr(layer, "layers", None):
            yield from _keras_leaves(layer, path + "/")
        else:
            yield path, layer


def keras_weight_layers(model: Any) -> list[str]:
    """Layers that own trainable weights, in the model's layer order (its call order)."""
    return [path for path, layer in _keras_leaves(model) if layer.trainable_weights]


def keras_copy(model: Any, clone: Callable[[], Any] | None = None) -> Any:
    """A copy of a Keras model with the same weights (``keras.models.clone_model``)."""
    keras = sys.modules["keras"]
    if clone is not None:
        return _fresh(model, clone, keras.Model)
    try:
        fresh = keras.models.clone_model(model)
        fresh.set_weights(model.get_weights())
    except Exception as error:
        if keras.backend.backend() != "torch":
            raise _uncopyable(model, error) from error
        try:  # subclassed models on the torch backend are torch modules: a deep copy works
            fresh = copy.deepcopy(model)
        except Exception:
            raise _uncopyable(model, error) from error
    return fresh


def _to_torch_layout(values: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """A Keras kernel ``(*kernel, in, out)`` as ``(out, in, *kernel)``, and the axes used."""
    if values.ndim < 2:
        return values, tuple(range(values.ndim))
    axes = (values.ndim - 1, values.ndim - 2, *range(values.ndim - 2))
    return values.transpose(axes), axes


def keras_randomized(
    model: Any, layers: Sequence[str], seed: int, clone: Callable[[], Any] | None = None
) -> Any:
    """A copy of a Keras model with the trainable weights of ``layers`` re-drawn."""
    keras = sys.modules["keras"]
    fresh = keras_copy(model, clone)
    leaves = dict(_keras_leaves(fresh))
    for name in layers:
        layer = leaves[name]
        rng = layer_rng(seed, name)
        norm = type(layer).__name__ in _KERAS_NORMS
        for variable in layer.trainable_weights:
            values = np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)
            canonical, axes = _to_torch_layout(values)
            new = redraw(canonical, norm, rng).transpose(np.argsort(axes))
            variable.assign(new.astype(variable.dtype))
    return fresh
