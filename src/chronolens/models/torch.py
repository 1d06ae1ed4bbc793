"""Adapter for ``torch.nn.Module`` classifiers.

Every call runs inside :meth:`TorchModel.session`, which puts every submodule in eval mode and
switches parameter gradients off, and restores each module's own ``training`` flag and each
parameter's ``requires_grad`` in a ``finally`` block. Hooks live only for the duration of one call.
Gradients are taken with :func:`torch.autograd.grad`, so no parameter's ``.grad`` is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
from torch import nn

from chronolens.models._fx_chain import chain_view
from chronolens.models._hooks import StopForward, capture, record_outputs, replace_output
from chronolens.models._locks import model_lock
from chronolens.models._randomize import torch_randomized, torch_weight_layers
from chronolens.models._sequence_inputs import SequenceInputs, call_with, sequence_inputs
from chronolens.models._torch_layer_table import TorchLayerTable
from chronolens.models._torch_outputs import (
    check_differentiable,
    detached,
    first_float,
)
from chronolens.models.base import Gradient, LayerGradient
from chronolens.targets import Target


class TorchModel(TorchLayerTable):
    """Wrap a ``torch.nn.Module`` so that chronolens methods can use it.

    Parameters
    ----------
    module : torch.nn.Module
        The classifier. Its output should be class scores ``(n_cases, n_classes)``, logits or
        probabilities; any other output needs a callable ``target``. A forward taking lengths,
        a mask or a ``PackedSequence`` gets them (:mod:`chronolens.models._sequence_inputs`).

    Notes
    -----
    The model is explained in eval mode (batch-norm running statistics, no dropout) whatever
    mode it is in; its own mode is restored afterwards.

    Subclasses adapt frameworks whose models are torch modules (Keras 3 on the torch backend)
    by overriding :meth:`_to_model`, :meth:`_from_model`, :meth:`_forward`, :meth:`_named_layers`
    and :meth:`_eval_modules`.
    """

    differentiable = True

    def __init__(self, module: nn.Module) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"TorchModel needs a torch.nn.Module; got {type(module).__name__}.")
        self.module = module
        reference = first_float(module)  # refuses parameters on the meta device
        self.device = reference.device if reference is not None else torch.device("cpu")
        self.dtype = reference.dtype if reference is not None else torch.float32
        self._depth = 0
        self.sequence_inputs: SequenceInputs = sequence_inputs(module)
        self._named = self._named_layers()
        self.scripted = isinstance(module, torch.jit.ScriptModule)
        self.reads_layers = not self.scripted
        self.propagates_rules = not self.scripted
        limit = getattr(module, "chronolens_max_rows", None)
        self.max_rows: int | None = int(limit) if isinstance(limit, int) else None
        self._table_cache: dict[tuple[int, int], list[tuple[str, Any]]] = {}
        self._bytes_cache: dict[tuple[int, int], tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.module).__name__})"

    # ------------------------------------------------------------------ override points
    def _named_layers(self) -> dict[str, nn.Module]:
        """Layers by the names users pass as ``layer`` (``named_modules()``, root excluded)."""
        return {name: m for name, m in self.module.named_modules() if name}

    def _eval_modules(self) -> list[nn.Module]:
        """Modules whose ``training`` flag is switched off during a session."""
        return list(self.module.modules())

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Series in the chronolens layout -> the model's own input."""
        return x.detach().to(device=self.device, dtype=self.dtype)

    def _from_model(self, value: torch.Tensor) -> torch.Tensor:
        """An activation or input gradient in the model's layout -> the chronolens layout."""
        return value.float()

    def _to_layer(self, value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """An activation in the chronolens layout -> the layout and dtype of ``like``."""
        return value.to(device=like.device, dtype=like.dtype)

    def _forward(self, inputs: torch.Tensor) -> Any:
        return call_with(self.module, inputs, self.sequence_inputs)

    # ------------------------------------------------------------------ state
    @contextmanager
    def session(self) -> Iterator[None]:
        """Run model calls in eval mode without parameter gradients; restore all state after.

        The model's lock (:mod:`chronolens.models._locks`) is held throughout, so sessions of
        one model in several threads run one after the other.
        """
        with model_lock(self.module):
            yield from self._locked_session()

    def _locked_session(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        modules = self._eval_modules()
        training = [m.training for m in modules]
        parameters = list(self.module.parameters())
        requires_grad = [p.requires_grad for p in parameters]
        self._depth = 1
        try:
            for m in modules:
                m.training = False
            for p in parameters:
                p.requires_grad_(False)
            yield
        finally:
            for m, flag in zip(modules, training):
                m.training = flag
            for p, flag in zip(parameters, requires_grad):
                p.requires_grad_(flag)
            self._depth = 0

    # ------------------------------------------------------------------ calls
    def scores(self, x: torch.Tensor) -> Any:
        """Return the model output for ``x`` (no graph)."""
        with self.session(), torch.inference_mode():
            out = self._forward(self._to_model(x))
        return out.float() if isinstance(out, torch.Tensor) else out

    def gradient(self, x: torch.Tensor, target: Target, layer: str | None = None) -> Gradient:
        """Return the target score of each row, its gradient w.r.t. ``x`` and the raw output.

        With ``layer``, the target selects from the layer's activation and the forward pass
        stops there (``output`` is None).
        """
        if layer is not None:
            return self._layer_input_gradient(x, target, layer)
        with self.session(), torch.inference_mode(False), torch.enable_grad():
            inputs = self._to_model(x).requires_grad_(True)
            output = self._forward(inputs)
            selected = target.select(output)
            check_differentiable(selected)
            (grad,) = torch.autograd.grad(selected.sum(), inputs)
        return Gradient(selected.detach().float(), self._from_model(grad), detached(output))

    def rule_gradient(
        self,
        x: torch.Tensor,
        target: Target,
        rules: Callable[[nn.Module], AbstractContextManager[None]],
    ) -> Gradient:
        """:meth:`gradient` with the backward pass changed by ``rules(module)`` for this call.

        The rules are entered inside the session (the model's lock is held) and exited, removing
        whatever they installed, before the lock is released, on success or on error.
        """
        self._require_hooks()
        with self.session(), rules(self.module):
            return self.gradient(x, target)

    def _layer_input_gradient(self, x: torch.Tensor, target: Target, layer: str) -> Gradient:
        module = self._layer(layer)
        with (
            capture(module, layer, keep_graph=False) as captured,
            self.session(),
            torch.inference_mode(False),
            torch.enable_grad(),
        ):
            inputs = self._to_model(x).requires_grad_(True)
            try:
                self._forward(inputs)
            except StopForward:
                pass
            if "raw" not in captured:
                raise ValueError(f"Layer {layer!r} did not run during the forward pass.")
            selected = target.select(self._from_model(captured["raw"]))
            check_differentiable(selected)
            (grad,) = torch.autograd.grad(selected.sum(), inputs)
        return Gradient(selected.detach().float(), self._from_model(grad), None)

    def _require_hooks(self) -> None:
        if self.scripted:
            raise ValueError(
                "This is a TorchScript module, which does not support forward hooks, so layer "
                "activations (CAM methods) cannot be read. Save the model with torch.export "
                "(a .pt2 archive) instead, or use a gradient or perturbation method."
            )

    def _layer(self, layer: str) -> nn.Module:
        self._require_hooks()
        return self._named[layer]

    def layer_gradient(
        self, x: torch.Tensor, target: Target, layer: str, *, head_only: bool = False
    ) -> LayerGradient:
        """Return target scores, the activation of ``layer``, its gradient and the raw output.

        ``head_only=True`` records the autograd graph from the layer on only (the layers before
        it run without one), which is all this gradient needs: less memory and time.
        """
        module = self._layer(layer)
        with (
            capture(module, layer, keep_graph=True, leaf=head_only) as captured,
            self.session(),
            torch.inference_mode(False),
            torch.enable_grad(),
        ):
            inputs = self._to_model(x).requires_grad_(not head_only)
            output = self._forward(inputs)
            selected = target.select(output)
            check_differentiable(selected)
            if "raw" not in captured:
                raise ValueError(f"Layer {layer!r} did not run during the forward pass.")
            raw = captured["raw"]
            (grad,) = torch.autograd.grad(selected.sum(), raw)
        return LayerGradient(
            selected.detach().float(),
            self._from_model(raw.detach()),
            self._from_model(grad),
            detached(output),
        )

    def layer_output(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Return the activation of ``layer`` for ``x``; the forward pass stops at the layer."""
        module = self._layer(layer)
        with capture(module, layer, keep_graph=False) as captured, self.session():
            with torch.no_grad():
                try:
                    self._forward(self._to_model(x))
                except StopForward:
                    pass
        if "raw" not in captured:
            raise ValueError(f"Layer {layer!r} did not run during the forward pass.")
        return self._from_model(captured["raw"].detach())

    def edited_scores(
        self, x: torch.Tensor, layer: str, edit: Callable[[torch.Tensor], torch.Tensor]
    ) -> Any:
        """The model output with ``layer``'s activation replaced by ``edit(activation)``."""
        module = self._layer(layer)

        def replace(output: torch.Tensor) -> torch.Tensor:
            return self._to_layer(edit(self._from_model(output)), output)

        with replace_output(module, layer, replace), self.session(), torch.inference_mode():
            out = self._forward(self._to_model(x))
        return out.float() if isinstance(out, torch.Tensor) else out

    def module_outputs(self, x: torch.Tensor) -> list[tuple[str, Any]]:
        """Run ``x`` once and return ``(name, output)`` of every layer, in completion order.

        Tensor outputs are in the chronolens layout.
        """
        self._require_hooks()
        with record_outputs(self._named) as outputs, self.session(), torch.no_grad():
            self._forward(self._to_model(x))
        return [
            (name, self._from_model(out) if isinstance(out, torch.Tensor) else out)
            for name, out in outputs
        ]

    def expected_channels(self) -> int | None:
        """Input channels of the first layer that declares them (for error messages)."""
        for module in self.module.modules():
            channels = getattr(module, "in_channels", None)
            if isinstance(channels, int):
                return channels
        return None

    def sequential_view(self) -> nn.Sequential | None:
        """The module as an ``nn.Sequential`` (itself, or its traced chain) for the engine."""
        if isinstance(self.module, nn.Sequential):
            return self.module
        traceable = not (self.scripted or self.sequence_inputs)
        return chain_view(self.module, self.cache_identity()[1]) if traceable else None

    def cache_identity(self) -> tuple[object, Hashable]:
        """The module, and its structure: each layer's name, class and hyper-parameters."""
        structure = tuple((name, repr(m)) for name, m in self._named.items() if not m._modules)
        return self.module, (type(self.module).__qualname__, structure)

    def weight_layers(self, x: torch.Tensor) -> list[str]:
        """Modules owning parameters, in forward order (recorded with hooks for one call)."""
        ran = [] if self.scripted else [name for name, _ in self.module_outputs(x)]
        return torch_weight_layers(self.module, ran)

    def randomized(self, layers: Sequence[str], seed: int, clone: Callable | None = None) -> Any:
        """A copy of the module with ``layers`` re-drawn (:mod:`chronolens.models._randomize`)."""
        return torch_randomized(self.module, layers, seed, clone)
