"""Adapter for Keras 3 models on the torch, TensorFlow and JAX backends.

Methods hand the adapter torch tensors in the chronolens layout ``(rows, n_channels,
n_timepoints)``; it transposes them to the model's own layout (channels last unless the model's
layers say ``data_format="channels_first"``) and returns activations as ``(rows, filters,
positions)``. Gradients are taken where the model lives:

- torch backend: a Keras model is a ``torch.nn.Module``; its call runs through torch autograd and
  layer activations are read with forward hooks (functional, Sequential and subclassed models).
- TensorFlow: ``tf.GradientTape``; JAX: ``jax.vjp``. Layer activations come from a functional
  sub-model that shares the model's layers (functional and Sequential models).

The explained score is always chosen in torch: the adapter asks the backend for the
vector-Jacobian product with the gradient of ``target.select`` on the output, so callable
targets work on every backend. Models are always called with ``training=False``; nothing of the
model is modified (on the torch backend, parameter ``requires_grad`` flags are switched off
during a call and restored in a ``finally`` block).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from chronolens._validation import suggestion
from chronolens.models._keras_bridge import jax_vjp, tensorflow_vjp, to_backend, to_torch
from chronolens.models._keras_geometry import chain_centers, graph_output
from chronolens.targets import Target

BACKENDS = ("torch", "tensorflow", "jax")


def is_keras_model(model: Any) -> bool:
    """True if ``model`` is a Keras 3 model (checked without importing Keras)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, getattr(keras, "Model", ()))


def _sublayers(layer: Any) -> Iterator[Any]:
    for child in getattr(layer, "layers", []) or []:
        yield child
        yield from _sublayers(child)


def _declared_input(model: Any) -> tuple[Any, ...] | None:
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
    CAM methods read layers by their Keras names (``model.layers``). On TensorFlow and JAX this
    needs a functional or Sequential model; on the torch backend any model works.
    """

    differentiable = True

    def __init__(self, model: Any) -> None:
        if not is_keras_model(model):
            raise TypeError(f"KerasModel needs a keras.Model; got {type(model).__name__}.")
        keras = sys.modules["keras"]
        self.model = model
        self.backend = keras.backend.backend()
        if self.backend not in BACKENDS:
            raise ValueError(
                f"Keras runs on the {self.backend!r} backend, which has no gradients. Set "
                "KERAS_BACKEND to 'torch', 'tensorflow' or 'jax' before importing keras."
            )
        formats = {
            getattr(layer, "data_format", None)
            for layer in _sublayers(model)
            if getattr(layer, "data_format", None) is not None
        }
        self.channels_last = formats != {"channels_first"}
        self._input = _declared_input(model)
        self._named = {
            layer.name: layer for layer in model.layers if type(layer).__name__ != "InputLayer"
        }
        self.device = torch.device("cpu")
        self.parameters: list[torch.nn.Parameter] = []
        if self.backend == "torch" and isinstance(model, torch.nn.Module):
            self.parameters = list(model.parameters())
            if self.parameters:
                self.device = self.parameters[0].device
        self._depth = 0
        self._table_cache: dict[tuple[int, int], list[tuple[str, tuple[int, ...]]]] = {}
        self._submodels: dict[tuple[str, str], Any] = {}

    def __repr__(self) -> str:
        return f"KerasModel({type(self.model).__name__}, backend={self.backend!r})"

    # ------------------------------------------------------------------ state
    @contextmanager
    def session(self) -> Iterator[None]:
        """Run model calls without parameter gradients; restore every flag afterwards."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        flags = [p.requires_grad for p in self.parameters]
        self._depth = 1
        try:
            for p in self.parameters:
                p.requires_grad_(False)
            yield
        finally:
            for p, flag in zip(self.parameters, flags):
                p.requires_grad_(flag)
            self._depth = 0

    # ------------------------------------------------------------------ layout
    def _check_shape(self, x: torch.Tensor) -> None:
        if self._input is None or len(self._input) != 2:
            return
        _, c, t = x.shape
        declared_t, declared_c = self._input if self.channels_last else self._input[::-1]
        problems = []
        if declared_c is not None and declared_c != c:
            problems.append(f"{declared_c} channels, got {c}")
        if declared_t is not None and declared_t != t:
            problems.append(f"{declared_t} time points, got {t}")
        if problems:
            order = "(batch, time, channels)" if self.channels_last else "(batch, channels, time)"
            raise ValueError(
                f"The Keras model's input shape is {(None, *self._input)}, i.e. {order}: it "
                f"expects {' and '.join(problems)}"
            )

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        self._check_shape(x)
        x = x.detach().to(device=self.device, dtype=torch.float32)
        return (x.transpose(1, 2) if self.channels_last else x).contiguous()

    def _from_model(self, value: torch.Tensor) -> torch.Tensor:
        value = value.float()
        return value.transpose(1, 2) if self.channels_last and value.ndim == 3 else value

    def _call(self, inputs: Any) -> Any:
        return self.model(inputs, training=False)

    def expected_channels(self) -> int | None:
        """Input channels the model declares (for error messages)."""
        if self._input is None or len(self._input) != 2:
            return None
        return self._input[-1] if self.channels_last else self._input[0]

    # ------------------------------------------------------------------ calls
    def scores(self, x: torch.Tensor) -> Any:
        """Return the model output for ``x`` (no graph)."""
        inputs = self._to_model(x)
        with self.session():
            if self.backend == "torch":
                with torch.no_grad():
                    out = self._call(inputs)
            else:
                out = self._call(to_backend(inputs, self.backend))
        out = to_torch(out, self.backend)
        return out.detach().float() if isinstance(out, torch.Tensor) else out

    def gradient(self, x: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the target score of each row and its gradient with respect to ``x``."""
        inputs = self._to_model(x)
        with self.session():
            if self.backend == "torch":
                with torch.inference_mode(False), torch.enable_grad():
                    inputs = inputs.clone().requires_grad_(True)
                    selected = target.select(self._call(inputs))
                    _check_graph(selected)
                    (grad,) = torch.autograd.grad(selected.sum(), inputs)
                selected = selected.detach()
            elif self.backend == "tensorflow":
                selected, _, grad = tensorflow_vjp(self._call, inputs, target.select, False)
            else:
                selected, _, grad = jax_vjp(self._call, inputs, target.select)
        return selected.float(), self._from_model(grad)

    def layer_gradient(
        self, x: torch.Tensor, target: Target, layer: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return target scores, the activation of ``layer`` and the gradient with respect to it."""
        inputs = self._to_model(x)
        with self.session():
            if self.backend == "torch":
                with self._hook(layer) as captured, torch.inference_mode(False):
                    with torch.enable_grad():
                        inputs = inputs.clone().requires_grad_(True)
                        selected = target.select(self._call(inputs))
                        _check_graph(selected)
                        activation = captured["activation"]
                        (grad,) = torch.autograd.grad(selected.sum(), activation)
                selected = selected.detach()
            elif self.backend == "tensorflow":
                both = self._submodel(layer, "both")
                selected, activation, grad = tensorflow_vjp(
                    lambda v: both(v, training=False), inputs, target.select, True
                )
            else:
                head, tail = self._submodel(layer, "head"), self._submodel(layer, "tail")
                act = head(to_backend(inputs, "jax"), training=False)
                selected, _, grad = jax_vjp(lambda v: tail(v, training=False), act, target.select)
                activation = to_torch(act, "jax")
        assert activation is not None
        return selected.float(), self._from_model(activation.detach()), self._from_model(grad)

    def layer_output(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Return the activation of ``layer`` for ``x``."""
        inputs = self._to_model(x)
        with self.session():
            if self.backend == "torch":
                with self._hook(layer) as captured, torch.no_grad():
                    self._call(inputs)
                activation = captured["activation"]
            else:
                head = self._submodel(layer, "head")
                activation = to_torch(
                    head(to_backend(inputs, self.backend), training=False), self.backend
                )
        return self._from_model(activation.detach())

    # ------------------------------------------------------------------ layer access
    @contextmanager
    def _hook(self, layer: str) -> Iterator[dict[str, Any]]:
        captured: dict[str, Any] = {}

        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            if "activation" in captured:
                raise ValueError(
                    f"Layer {layer!r} runs more than once per call (a shared layer), so its "
                    "activation is ambiguous. Choose a layer that runs once."
                )
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"Layer {layer!r} returns {type(output).__name__}, not a tensor; choose a "
                    "layer whose output is a (batch, time, filters) tensor."
                )
            captured["activation"] = output

        handle = self._named[layer].register_forward_hook(hook)
        try:
            yield captured
        finally:
            handle.remove()
        if "activation" not in captured:
            raise ValueError(f"Layer {layer!r} did not run during the model's call.")

    def _submodel(self, layer: str, part: str) -> Any:
        """A functional model sharing the user's layers.

        ``part``: "head" (input -> layer), "both" (input -> [layer, output]) or "tail"
        (layer -> output).
        """
        key = (layer, part)
        if key in self._submodels:
            return self._submodels[key]
        keras = sys.modules["keras"]
        try:
            inputs, outputs = self.model.inputs, self.model.outputs
            activation = graph_output(self.model, self._named[layer])
            if activation is None:
                raise ValueError("the layer is not part of the model's graph")
        except (AttributeError, ValueError) as error:
            raise ValueError(
                f"Layer activations of a subclassed Keras model cannot be read on the "
                f"{self.backend} backend ({error}). Build the model with the functional or "
                "Sequential API, run Keras on the torch backend (KERAS_BACKEND=torch), or use a "
                "gradient or perturbation method."
            ) from None
        if len(outputs) != 1:
            raise ValueError("CAM methods need a Keras model with a single output.")
        try:
            if part == "head":
                built = keras.Model(inputs, activation)
            elif part == "both":
                built = keras.Model(inputs, [activation, outputs[0]])
            else:
                built = keras.Model(activation, outputs[0])
        except Exception as error:
            raise ValueError(
                f"The part of the model after layer {layer!r} also reads earlier layers (a skip "
                f"connection), so it cannot be split there on the jax backend ({error}). Choose "
                "a layer after the last merge, or run Keras on the torch or tensorflow backend."
            ) from None
        self._submodels[key] = built
        return built

    def layers(self) -> list[str]:
        """Names of the model's layers (``model.layers``), in definition order."""
        return list(self._named)

    def _layer_table(self, n_channels: int, n_timepoints: int) -> list[tuple[str, tuple[int, ...]]]:
        """(name, chronolens-layout output shape) of each layer for one zero series."""
        key = (n_channels, n_timepoints)
        if key in self._table_cache:
            return self._table_cache[key]
        zeros = torch.zeros(1, n_channels, n_timepoints)
        table: list[tuple[str, tuple[int, ...]]] = []
        if self.backend == "torch":
            handles = []

            def recorder(name: str) -> Any:
                def hook(_module: Any, _inputs: Any, output: Any) -> None:
                    if isinstance(output, torch.Tensor):
                        table.append((name, tuple(self._from_model(output).shape)))

                return hook

            try:
                for name, layer in self._named.items():
                    handles.append(layer.register_forward_hook(recorder(name)))
                self.scores(zeros)
            finally:
                for handle in handles:
                    handle.remove()
        else:
            for name in self._named:
                try:
                    head = self._submodel(name, "head")
                except ValueError:
                    continue
                with self.session():
                    out = head(to_backend(self._to_model(zeros), self.backend), training=False)
                out = to_torch(out, self.backend)
                if isinstance(out, torch.Tensor):
                    table.append((name, tuple(self._from_model(out).shape)))
        self._table_cache[key] = table
        return table

    def _time_layers(self, n_channels: int, n_timepoints: int) -> list[str]:
        table = self._layer_table(n_channels, n_timepoints)
        return [name for name, shape in table if _has_time_axis(shape)]

    def default_cam_layer(self, n_channels: int, n_timepoints: int) -> str:
        """Return the last layer whose output still has a time axis."""
        candidates = self._time_layers(n_channels, n_timepoints)
        if not candidates:
            raise ValueError(
                "No layer of this Keras model outputs a (batch, time, filters) tensor with more "
                "than one time position that chronolens can read, so CAM methods cannot be used"
                f"{self._subclassed_hint()}. Use a gradient method such as "
                "'integrated_gradients' instead."
            )
        return candidates[-1]

    def _subclassed_hint(self) -> str:
        if self.backend != "torch" and _declared_input(self.model) is not None:
            try:
                self.model.inputs  # noqa: B018 - raises for subclassed models
            except (AttributeError, ValueError):
                return (
                    f" (layers of a subclassed model are only readable on the torch backend, "
                    f"not {self.backend})"
                )
        return ""

    def resolve_layer(self, layer: object, n_channels: int, n_timepoints: int) -> str:
        """Return the Keras name of ``layer`` (a name or a layer) and check it has a time axis."""
        candidates = self._time_layers(n_channels, n_timepoints)
        listing = ", ".join(repr(n) for n in candidates) or "none"
        if isinstance(layer, str):
            name = layer
            if name not in self._named:
                raise ValueError(
                    f"Unknown layer {layer!r}.{suggestion(layer, self.layers())} Layers with a "
                    f"time axis: {listing}."
                )
        elif any(layer is known for known in self._named.values()):
            name = next(n for n, known in self._named.items() if known is layer)
        else:
            raise (TypeError if not hasattr(layer, "get_config") else ValueError)(
                f"`layer` must be a layer name or one of the model's layers (model.layers); got "
                f"{type(layer).__name__}. Layers with a time axis: {listing}."
            )
        shapes = [shape for n, shape in self._layer_table(n_channels, n_timepoints) if n == name]
        if not shapes:
            raise ValueError(
                f"The output of layer {name!r} cannot be read on the {self.backend} backend "
                "(it does not run, or the model is subclassed). Layers with a time axis: "
                f"{listing}."
            )
        if not _has_time_axis(shapes[-1]):
            raise ValueError(
                f"Layer {name!r} outputs shape {shapes[-1]} (chronolens layout), which has no time "
                f"axis (CAM methods need (batch, filters, time) with more than one position). "
                f"Layers with a time axis: {listing}."
            )
        return name

    def layer_centers(self, layer: str, n_channels: int, n_timepoints: int) -> np.ndarray | None:
        """Receptive-field centres of ``layer``'s positions from the layers' configs.

        Known when the path from the input to the layer is a chain of single-input Conv1D,
        pooling, padding and point-wise layers; None otherwise (then they are probed).
        """
        if not self.channels_last:
            return None
        centres = chain_centers(self.model, self._named[layer], n_timepoints)
        shapes = [shape for n, shape in self._layer_table(n_channels, n_timepoints) if n == layer]
        if centres is None or not shapes or len(centres) != shapes[-1][-1]:
            return None
        return centres

    def row_bytes(self, n_channels: int, n_timepoints: int) -> tuple[int, int]:
        """Bytes of activations of one input row: (sum over layers, largest single one)."""
        row = n_channels * n_timepoints * 4
        sizes = [
            int(np.prod(shape[1:])) * 4 for _, shape in self._layer_table(n_channels, n_timepoints)
        ]
        return sum(sizes) + row, max([*sizes, row])


def _has_time_axis(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[-1] > 1


def _check_graph(selected: torch.Tensor) -> None:
    if not selected.requires_grad:
        raise ValueError(
            "The Keras model's output does not depend differentiably on its input (no autograd "
            "graph). Use a perturbation method (e.g. 'occlusion') instead."
        )
