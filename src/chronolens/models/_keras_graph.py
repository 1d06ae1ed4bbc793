"""Keras 3 on TensorFlow or JAX: gradients by GradientTape / ``jax.vjp``, layers by sub-models.

Layer activations come from functional sub-models that share the user's layers (input -> layer,
input -> [layer, output], layer -> output), so functional and Sequential models can be read;
subclassed models can be explained with gradient and perturbation methods on these backends, and
with every method on the torch backend.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np
import torch

from chronolens._validation import suggestion
from chronolens.models._keras_base import KerasModel, declared_input, keras_layers
from chronolens.models._keras_bridge import jax_vjp, tensorflow_vjp, to_backend, to_torch
from chronolens.models._keras_compiled import shared_passes
from chronolens.models._keras_geometry import graph_output
from chronolens.models.base import CapabilityError, Gradient, LayerGradient
from chronolens.targets import Target

#: Why propagation methods need the torch backend, and the fix.
RULES_ON_TORCH_BACKEND = (
    "Propagation methods (DeepLIFT, LRP, guided backpropagation) change how each layer passes "
    "gradients back, which chronolens does on torch modules: load this Keras model on the torch "
    "backend (set KERAS_BACKEND=torch before keras is imported; a .keras file saved on "
    "TensorFlow or JAX loads there), or use a gradient method such as 'integrated_gradients'."
)


def _has_time_axis(shape: tuple[int, ...], rank: int = 3) -> bool:
    return len(shape) == rank and shape[-1] > 1


class KerasGraphModel(KerasModel, backends=("tensorflow", "jax")):
    """A Keras 3 model on the TensorFlow or JAX backend."""

    differentiable = True
    reads_layers = True
    propagates_rules = False
    max_rows: int | None = None

    def __init__(self, model: Any) -> None:
        self._init_keras(model)
        self._named = keras_layers(model)
        self.device = torch.device("cpu")
        self._submodels, self._compiled = shared_passes(model, self._structure(), self.backend)
        self._table_cache = self._compiled.tables

    @contextmanager
    def session(self) -> Iterator[None]:
        """Nothing to switch: the model is always called with ``training=False``."""
        yield

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        return self._keras_input(x, self.device)

    def _call(self, inputs: Any) -> Any:
        return self.model(inputs, training=False)

    # ------------------------------------------------------------------ calls
    def scores(self, x: torch.Tensor) -> Any:
        """Return the model output for ``x`` (no graph)."""
        inputs = self._to_model(x)
        out = self._compiled.forward(self.model, inputs)
        if out is None:
            out = to_torch(self._call(to_backend(inputs, self.backend)), self.backend)
        return out.detach().float() if isinstance(out, torch.Tensor) else out

    def rule_gradient(
        self,
        x: torch.Tensor,
        target: Target,
        rules: Callable[[torch.nn.Module], AbstractContextManager[None]],
    ) -> Gradient:
        """Refused: propagation rules change torch modules' backward passes (torch backend)."""
        raise CapabilityError(RULES_ON_TORCH_BACKEND)

    def gradient(self, x: torch.Tensor, target: Target, layer: str | None = None) -> Gradient:
        """Return the target score of each row, its gradient w.r.t. ``x`` and the raw output.

        With ``layer``, the target selects from the layer's activation (``output`` is None).
        """
        inputs = self._to_model(x)
        if layer is None:
            compiled = self._compiled.run(("input",), self.model, inputs, target)
            if compiled is not None:
                scores, output, grad, _ = compiled
                return Gradient(scores, self._keras_output(grad), output)
        call: Callable[[Any], Any] = self._call
        select: Callable[[torch.Tensor], torch.Tensor] = target.select
        if layer is not None:
            head = self._submodel(layer, "head")
            call = lambda v: head(v, training=False)  # noqa: E731
            select = lambda out: target.select(self._keras_output(out))  # noqa: E731
        if self.backend == "tensorflow":
            selected, _, grad, output = tensorflow_vjp(call, inputs, select, False)
        else:
            selected, output, grad = jax_vjp(call, inputs, select)
        return Gradient(
            selected.float(), self._keras_output(grad), None if layer is not None else output
        )

    def layer_gradient(
        self, x: torch.Tensor, target: Target, layer: str, *, head_only: bool = False
    ) -> LayerGradient:
        """Return target scores, the activation of ``layer``, its gradient and the raw output."""
        inputs = self._to_model(x)
        compiled = self._compiled_layer_gradient(inputs, target, layer)
        if compiled is not None:
            return compiled
        if self.backend == "tensorflow":
            both = self._submodel(layer, "both")
            selected, activation, grad, output = tensorflow_vjp(
                lambda v: both(v, training=False), inputs, target.select, True
            )
        else:
            head, tail = self._submodel(layer, "head"), self._submodel(layer, "tail")
            act = head(to_backend(inputs, "jax"), training=False)
            selected, output, grad = jax_vjp(lambda v: tail(v, training=False), act, target.select)
            activation = to_torch(act, "jax")
        assert activation is not None
        return LayerGradient(
            selected.float(),
            self._keras_output(activation.detach()),
            self._keras_output(grad),
            output,
        )

    def _compiled_layer_gradient(
        self, inputs: torch.Tensor, target: Target, layer: str
    ) -> LayerGradient | None:
        key = ("layer", layer)
        if self.backend == "tensorflow":
            both = self._submodel(layer, "both")
            compiled = self._compiled.run(key, both, inputs, target, with_activation=True)
        else:
            head, tail = self._submodel(layer, "head"), self._submodel(layer, "tail")
            compiled = self._compiled.run(key, tail, inputs, target, head=head)
        if compiled is None:
            return None
        scores, output, grad, activation = compiled
        assert activation is not None
        return LayerGradient(
            scores, self._keras_output(activation), self._keras_output(grad), output
        )

    def layer_output(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Return the activation of ``layer`` for ``x``."""
        head = self._submodel(layer, "head")
        value = head(to_backend(self._to_model(x), self.backend), training=False)
        return self._keras_output(to_torch(value, self.backend).detach())

    def edited_scores(
        self, x: torch.Tensor, layer: str, edit: Callable[[torch.Tensor], torch.Tensor]
    ) -> Any:
        """The output of the layer-to-output sub-model on ``edit`` of the layer's activation."""
        head, tail = self._submodel(layer, "head"), self._submodel(layer, "tail")
        activation = to_torch(
            head(to_backend(self._to_model(x), self.backend), training=False), self.backend
        )
        edited = self._keras_activation(edit(self._keras_output(activation.detach())), self.device)
        output = tail(to_backend(edited, self.backend), training=False)
        return to_torch(output, self.backend).detach().float()

    def module_outputs(self, x: torch.Tensor) -> list[tuple[str, Any]]:
        """``(name, activation)`` of every layer that a sub-model can read, in order."""
        outputs = []
        inputs = None
        for name in self._named:
            try:
                head = self._submodel(name, "head")
            except ValueError:
                continue
            if inputs is None:
                inputs = to_backend(self._to_model(x), self.backend)
            value = to_torch(head(inputs, training=False), self.backend)
            if isinstance(value, torch.Tensor):
                outputs.append((name, self._keras_output(value.detach())))
        return outputs

    # ------------------------------------------------------------------ layer access
    def _submodel(self, layer: str, part: str) -> Any:
        """A functional model sharing the user's layers.

        ``part``: "head" (input -> layer), "both" (input -> [layer, output]) or "tail"
        (layer -> output).
        """
        key = (layer, part)
        if key not in self._submodels:
            self._submodels[key] = self._build_submodel(layer, part)
        return self._submodels[key]

    def _build_submodel(self, layer: str, part: str) -> Any:
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
                return keras.Model(inputs, activation)
            if part == "both":
                return keras.Model(inputs, [activation, outputs[0]])
            return keras.Model(activation, outputs[0])
        except Exception as error:
            raise ValueError(
                f"The part of the model after layer {layer!r} also reads earlier layers (a skip "
                f"connection), so it cannot be split there on the jax backend ({error}). Choose "
                "a layer after the last merge, or run Keras on the torch or tensorflow backend."
            ) from None

    def layers(self) -> list[str]:
        """Names of the model's layers (``model.layers``), in definition order."""
        return list(self._named)

    def _layer_table(self, n_channels: int, n_timepoints: int) -> list[tuple[str, tuple[int, ...]]]:
        """(name, chronolens-layout output shape) of each readable layer for one zero series."""
        key = (n_channels, n_timepoints)
        if key in self._table_cache:
            return self._table_cache[key]
        zeros = torch.zeros(1, n_channels, n_timepoints)
        table = [(name, tuple(out.shape)) for name, out in self.module_outputs(zeros)]
        self._table_cache[key] = table
        return table

    def _time_layers(self, n_channels: int, n_timepoints: int, rank: int = 3) -> list[str]:
        table = self._layer_table(n_channels, n_timepoints)
        return [name for name, shape in table if _has_time_axis(shape, rank)]

    def default_cam_layer(self, n_channels: int, n_timepoints: int, rank: int = 3) -> str:
        """Return the last layer whose output still has a time axis."""
        candidates = self._time_layers(n_channels, n_timepoints, rank)
        if not candidates and rank == 4:
            raise ValueError(
                "'dcam' reads the dimension-wise PyTorch networks chronolens.zoo.dcnn and "
                "zoo.dresnet; this Keras model is not one. Use 'channel_grad_cam' for a channel "
                "x time map of this model."
            )
        if not candidates:
            wanted = "(batch, time, filters)" if rank == 3 else "(batch, rows, time, filters)"
            raise ValueError(
                f"No layer of this Keras model outputs a {wanted} tensor with more than one time "
                f"position that chronolens can read, so this method cannot be used"
                f"{self._subclassed_hint()}. Use a gradient method such as "
                "'integrated_gradients' instead."
            )
        return candidates[-1]

    def _subclassed_hint(self) -> str:
        if declared_input(self.model) is not None:
            try:
                self.model.inputs  # noqa: B018 - raises for subclassed models
            except (AttributeError, ValueError):
                return (
                    f" (layers of a subclassed model are only readable on the torch backend, "
                    f"not {self.backend})"
                )
        return ""

    def resolve_layer(
        self, layer: object, n_channels: int, n_timepoints: int, rank: int = 3
    ) -> str:
        """Return the Keras name of ``layer`` (a name or a layer) and check it has a time axis."""
        candidates = self._time_layers(n_channels, n_timepoints, rank)
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
        if not _has_time_axis(shapes[-1], rank):
            raise ValueError(
                f"Layer {name!r} outputs shape {shapes[-1]} (chronolens layout), which has no time "
                f"axis (CAM methods need (batch, filters, time) with more than one position). "
                f"Layers with a time axis: {listing}."
            )
        return name

    def layer_centers(self, layer: str, n_channels: int, n_timepoints: int) -> np.ndarray | None:
        """Receptive-field centres from the Keras layers' configs (None: probe them)."""
        shapes = [shape for n, shape in self._layer_table(n_channels, n_timepoints) if n == layer]
        n_positions = shapes[-1][-1] if shapes else None
        return self._chain_centers(self._named[layer], n_timepoints, n_positions)

    def row_bytes(self, n_channels: int, n_timepoints: int) -> tuple[int, int]:
        """Bytes of activations of one input row: (sum over layers, largest single one)."""
        row = n_channels * n_timepoints * 4
        sizes = [
            int(np.prod(shape[1:])) * 4 for _, shape in self._layer_table(n_channels, n_timepoints)
        ]
        return sum(sizes) + row, max([*sizes, row])

    def cache_identity(self) -> tuple[object, Hashable] | None:
        """The Keras model and its layers' geometry."""
        return self.model, self._structure()
