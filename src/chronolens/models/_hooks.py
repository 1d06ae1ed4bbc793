"""Forward hooks on torch modules, in one place: every hook lives only inside a ``with`` block.

Used by the torch adapter (and so by Keras models on the torch backend, whose layers are torch
modules) and by activation maximization. A hook is removed in a ``finally`` block whatever happens
in the forward pass, so no hook ever survives a call, an error or an interrupted pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


class StopForward(Exception):
    """Raised by a hook to end a forward pass once the wanted activation is captured."""


@contextmanager
def capture(
    module: nn.Module,
    layer: str,
    *,
    keep_graph: bool,
    leaf: bool = False,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Capture the output of ``module`` (named ``layer`` in messages) during one forward pass.

    Parameters
    ----------
    keep_graph : bool
        False ends the forward pass at the layer (:class:`StopForward`, which the caller
        catches); True lets it run on, handing a clone downstream so that a later in-place
        operation cannot alter the captured tensor.
    leaf : bool, default=False
        Start the autograd graph at the layer (the captured tensor is a new leaf that requires
        grad, and the rest of the pass is computed from it).
    transform : callable, optional
        Applied to the captured tensor before it is stored (e.g. a layout change); the value
        handed downstream is unchanged.

    Yields
    ------
    dict
        ``{"activation": tensor}`` once the layer has run.
    """
    captured: dict[str, torch.Tensor] = {}

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
        if "raw" in captured:
            raise ValueError(
                f"Layer {layer!r} runs more than once per forward pass (a shared module), so its "
                "activation is ambiguous. Choose a layer that runs once."
            )
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"Layer {layer!r} returns {type(output).__name__}, not a tensor; choose a layer "
                "whose output is a (n, filters, time) tensor."
            )
        if leaf:
            output = output.detach().requires_grad_(True)
        captured["raw"] = output
        captured["activation"] = transform(output) if transform is not None else output
        if not keep_graph:
            raise StopForward
        # Hand a copy downstream: a later in-place op cannot alter the captured activation.
        return output.clone()

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


@contextmanager
def replace_output(
    module: nn.Module, layer: str, replace: Callable[[torch.Tensor], torch.Tensor]
) -> Iterator[None]:
    """Hand ``replace(output)`` downstream of ``module`` instead of its output, for one block.

    The module must run once per forward pass and return a tensor (``layer`` names it in
    messages); the hook is removed on exit, whatever happens.
    """
    calls = [0]

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
        calls[0] += 1
        if calls[0] > 1:
            raise ValueError(
                f"Layer {layer!r} runs more than once per forward pass (a shared module), so "
                "its activation is ambiguous. Choose a layer that runs once."
            )
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"Layer {layer!r} returns {type(output).__name__}, not a tensor; choose a layer "
                "whose output is a (n, filters, time) tensor."
            )
        return replace(output)

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def record_outputs(named: Mapping[str, nn.Module]) -> Iterator[list[tuple[str, Any]]]:
    """Record ``(name, output)`` of every module in ``named`` as it completes, in order."""
    outputs: list[tuple[str, Any]] = []
    handles = []

    def recorder(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            outputs.append((name, output))

        return hook

    try:
        for name, module in named.items():
            handles.append(module.register_forward_hook(recorder(name)))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()
