"""Adapter for ``torch.nn.Module`` classifiers.

Every call runs inside :meth:`TorchModel.session`, which puts every submodule in eval mode and
switches parameter gradients off, and restores each module's own ``training`` flag and each
parameter's ``requires_grad`` in a ``finally`` block. Hooks live only for the duration of one call.
Gradients are taken with :func:`torch.autograd.grad`, so no parameter's ``.grad`` is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from chronolens._validation import suggestion
from chronolens.models._geometry import sequential_centers
from chronolens.targets import Target


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the wanted activation is captured."""


def _first_float(module: nn.Module) -> torch.Tensor | None:
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return tensor
    return None


class TorchModel:
    """Wrap a ``torch.nn.Module`` so that chronolens methods can use it.

    Parameters
    ----------
    module : torch.nn.Module
        The classifier. Its output should be class scores ``(n_cases, n_classes)``, logits or
        probabilities; any other output needs a callable ``target``.

    Notes
    -----
    The model is explained in eval mode (batch-norm running statistics, no dropout) whatever
    mode it is in; its own mode is restored afterwards.
    """

    differentiable = True

    def __init__(self, module: nn.Module) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"TorchModel needs a torch.nn.Module; got {type(module).__name__}.")
        self.module = module
        reference = _first_float(module)
        self.device = reference.device if reference is not None else torch.device("cpu")
        self.dtype = reference.dtype if reference is not None else torch.float32
        self._depth = 0
        self._named = dict(module.named_modules())
        self.scripted = isinstance(module, torch.jit.ScriptModule)
        self._table_cache: dict[tuple[int, int], list[tuple[str, Any]]] = {}
        self._bytes_cache: dict[tuple[int, int], tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"TorchModel({type(self.module).__name__})"

    # ------------------------------------------------------------------ state
    @contextmanager
    def session(self) -> Iterator[None]:
        """Run model calls in eval mode without parameter gradients; restore all state after."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        modules = list(self.module.modules())
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

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach().to(device=self.device, dtype=self.dtype)

    # ------------------------------------------------------------------ calls
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Return the model output for ``x`` (no graph)."""
        with self.session(), torch.inference_mode():
            out = self.module(self._input(x))
        if isinstance(out, torch.Tensor):
            return out.float()
        return out

    def gradient(self, x: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the target score of each row and its gradient with respect to ``x``."""
        with self.session(), torch.inference_mode(False), torch.enable_grad():
            inputs = self._input(x).requires_grad_(True)
            selected = target.select(self.module(inputs))
            _check_differentiable(selected)
            (grad,) = torch.autograd.grad(selected.sum(), inputs)
        return selected.detach().float(), grad.float()

    def _require_hooks(self) -> None:
        if self.scripted:
            raise ValueError(
                "This is a TorchScript module, which does not support forward hooks, so layer "
                "activations (CAM methods) cannot be read. Save the model with torch.export "
                "(a .pt2 archive) instead, or use a gradient or perturbation method."
            )

    def _hooked(
        self, layer: str, keep_graph: bool, leaf: bool = False
    ) -> tuple[Any, dict[str, Any]]:
        self._require_hooks()
        captured: dict[str, Any] = {}

        def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
            if "activation" in captured:
                raise ValueError(
                    f"Layer {layer!r} runs more than once per forward pass (a shared module), so "
                    "its activation is ambiguous. Choose a layer that runs once."
                )
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"Layer {layer!r} returns {type(output).__name__}, not a tensor; choose a "
                    "layer whose output is a (n, filters, time) tensor."
                )
            if leaf:  # the graph starts here
                output = output.detach().requires_grad_(True)
            captured["activation"] = output
            if not keep_graph:
                raise _StopForward
            # Hand a copy downstream: a later in-place op cannot alter the captured activation.
            return output.clone()

        handle = self._named[layer].register_forward_hook(hook)
        return handle, captured

    def layer_gradient(
        self, x: torch.Tensor, target: Target, layer: str, *, head_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return target scores, the activation of ``layer`` and the gradient with respect to it.

        ``head_only=True`` records the autograd graph from the layer on only (the layers before
        it run without one), which is all this gradient needs: less memory and time.
        """
        handle, captured = self._hooked(layer, keep_graph=True, leaf=head_only)
        try:
            with self.session(), torch.inference_mode(False), torch.enable_grad():
                inputs = self._input(x).requires_grad_(not head_only)
                selected = target.select(self.module(inputs))
                _check_differentiable(selected)
                activation = captured["activation"]
                (grad,) = torch.autograd.grad(selected.sum(), activation)
        finally:
            handle.remove()
        return selected.detach().float(), activation.detach().float(), grad.float()

    def layer_output(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Return the activation of ``layer`` for ``x``; the forward pass stops at the layer."""
        handle, captured = self._hooked(layer, keep_graph=False)
        try:
            with self.session(), torch.no_grad():
                try:
                    self.module(self._input(x))
                except _StopForward:
                    pass
        finally:
            handle.remove()
        if "activation" not in captured:
            raise ValueError(f"Layer {layer!r} did not run during the forward pass.")
        return captured["activation"].detach().float()

    def module_outputs(self, x: torch.Tensor) -> list[tuple[str, Any]]:
        """Run ``x`` once and return ``(name, output)`` of every submodule, in completion order."""
        self._require_hooks()
        outputs: list[tuple[str, Any]] = []
        handles = []
        try:
            for name, module in self._named.items():
                if name:
                    handles.append(
                        module.register_forward_hook(
                            lambda _m, _i, out, name=name: outputs.append((name, out))
                        )
                    )
            with self.session(), torch.no_grad():
                self.module(self._input(x))
        finally:
            for handle in handles:
                handle.remove()
        return outputs

    def expected_channels(self) -> int | None:
        """Input channels of the first layer that declares them (for error messages)."""
        for module in self.module.modules():
            channels = getattr(module, "in_channels", None)
            if isinstance(channels, int):
                return channels
        return None

    # ------------------------------------------------------------------ layers
    def layers(self) -> list[str]:
        """Names of all submodules, in definition order."""
        return [name for name in self._named if name]

    def _layer_table(self, n_channels: int, n_timepoints: int) -> list[tuple[str, Any]]:
        """Run one zero series and record (name, output) of every submodule as it completes."""
        key = (n_channels, n_timepoints)
        if key not in self._table_cache:
            self._table_cache[key] = self.module_outputs(torch.zeros(1, n_channels, n_timepoints))
        return self._table_cache[key]

    def _time_layers(self, n_channels: int, n_timepoints: int, rank: int = 3) -> list[str]:
        table = self._layer_table(n_channels, n_timepoints)
        return [name for name, out in table if _has_time_axis(out, rank)]

    def default_cam_layer(self, n_channels: int, n_timepoints: int, rank: int = 3) -> str:
        """Return the last submodule whose output still has a time axis (the deepest one).

        ``rank=4`` looks for (n, filters, rows, time) outputs (dimension-wise networks).
        """
        table = self._layer_table(n_channels, n_timepoints)
        calls: dict[str, int] = {}
        for name, _ in table:
            calls[name] = calls.get(name, 0) + 1
        for _, out in reversed(table):
            if _has_time_axis(out, rank):
                # The deepest module that produced this tensor and runs once per forward pass
                # (a shared activation module, called in several places, is ambiguous).
                same = [n for n, o in table if o is out and calls[n] == 1]
                if same:
                    return max(same, key=lambda n: (n.count("."), -same.index(n)))
        if rank == 4:
            raise ValueError(
                "No layer of this model outputs a (n, filters, rows, time) tensor, so it is not a "
                "dimension-wise network and 'dcam' cannot read it. Build one with "
                "chronolens.zoo.dcnn or zoo.dresnet, or use 'channel_grad_cam' on this model."
            )
        raise ValueError(
            "No layer of this model outputs a (n, filters, time) tensor with more than one time "
            "position, so CAM methods cannot be used. Use a gradient method such as "
            "'integrated_gradients' instead."
        )

    def resolve_layer(
        self, layer: object, n_channels: int, n_timepoints: int, rank: int = 3
    ) -> str:
        """Return the name of ``layer`` and check that its output has a time axis."""
        candidates = self._time_layers(n_channels, n_timepoints, rank)
        if isinstance(layer, nn.Module):
            names = [name for name, module in self._named.items() if module is layer and name]
            if not names:
                raise ValueError(
                    f"`layer` {type(layer).__name__} is not a submodule of this model. Pass one of "
                    f"its modules or a name from model.named_modules(): {_listing(candidates)}."
                )
            name = names[0]
        elif isinstance(layer, str):
            name = layer
            if name not in self._named or not name:
                raise ValueError(
                    f"Unknown layer {layer!r}.{suggestion(layer, self.layers())} Layers with a "
                    f"time axis: {_listing(candidates)}."
                )
        else:
            raise TypeError(
                f"`layer` must be a layer name or a torch.nn.Module; got {type(layer).__name__}."
            )
        outputs = [out for n, out in self._layer_table(n_channels, n_timepoints) if n == name]
        if not outputs:
            raise ValueError(
                f"Layer {name!r} does not run during the forward pass. Layers with a time axis: "
                f"{_listing(candidates)}."
            )
        if not _has_time_axis(outputs[-1], rank):
            shape = tuple(outputs[-1].shape) if isinstance(outputs[-1], torch.Tensor) else "?"
            wanted = "(n, filters, time)" if rank == 3 else "(n, filters, rows, time)"
            raise ValueError(
                f"Layer {name!r} outputs shape {shape}, which has no time axis (this method needs "
                f"{wanted} with more than one position). Layers with a time axis: "
                f"{_listing(candidates)}."
            )
        return name

    def layer_centers(self, layer: str, n_channels: int, n_timepoints: int) -> np.ndarray | None:
        """Receptive-field centres of ``layer``'s positions from the layers' hyper-parameters.

        Known when the path from the input to the layer is a chain of ``nn.Sequential`` children
        made of convolutions, pools and element-wise layers; None otherwise (then the centres are
        measured by probing, see :mod:`chronolens.methods._receptive_field`).
        """
        n_positions = None
        for name, out in self._layer_table(n_channels, n_timepoints):
            if name == layer and isinstance(out, torch.Tensor):
                n_positions = out.shape[-1]
        if n_positions is None:
            return None
        return sequential_centers(self.module, layer, n_positions)

    def row_bytes(self, n_channels: int, n_timepoints: int) -> tuple[int, int]:
        """Bytes of activations of one input row: (sum over leaf layers, largest single one)."""
        key = (n_channels, n_timepoints)
        row = n_channels * n_timepoints * 4
        if self.scripted:  # no hooks to measure with: assume a mid-sized network
            return (row * 256, row * 32)
        if key not in self._bytes_cache:
            table = self._layer_table(n_channels, n_timepoints)
            sizes = [
                out.numel() * out.element_size()
                for name, out in table
                if isinstance(out, torch.Tensor) and not list(self._named[name].children())
            ]
            self._bytes_cache[key] = (sum(sizes) + row, max([*sizes, row]))
        return self._bytes_cache[key]


def _has_time_axis(output: Any, rank: int = 3) -> bool:
    return isinstance(output, torch.Tensor) and output.ndim == rank and output.shape[-1] > 1


def _listing(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[-12:])
    return shown if len(names) <= 12 else f"... {shown}"


def _check_differentiable(selected: torch.Tensor) -> None:
    if not selected.requires_grad:
        raise ValueError(
            "The model output does not depend differentiably on its input (no autograd graph): "
            "the model may detach its input, run under torch.no_grad(), or be non-differentiable. "
            "Use a perturbation method (e.g. 'occlusion') instead."
        )
