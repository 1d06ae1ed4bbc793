"""The Model protocol: the only way a method talks to a model.

Every method is written once, in torch, against this protocol, and runs on every framework an
adapter exists for. Tensors handed to and returned by an adapter are torch tensors in the
chronolens layout ``(rows, n_channels, n_timepoints)``; activations are ``(rows, n_filters,
n_positions)`` (``(rows, n_filters, n_rows, n_positions)`` for rank-4 layers) whatever layout the
framework uses inside.

Capabilities are explicit: ``differentiable`` (gradients with respect to the input),
``reads_layers`` (layer activations and gradients) and ``propagates_rules`` (a backward pass
changed per layer, for propagation methods). An adapter that lacks one still implements
every member; those members raise :class:`CapabilityError`, naming the methods that work.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch

from chronolens.targets import Target


class CapabilityError(ValueError):
    """The model does not expose what a method needs (gradients, layer activations)."""


class Gradient(NamedTuple):
    """What :meth:`Model.gradient` returns for a batch of rows."""

    #: The explained score of every row, shape (rows,).
    scores: torch.Tensor
    #: d score / d input, shape (rows, n_channels, n_timepoints).
    grad: torch.Tensor
    #: The raw model output for the rows (a tensor, or a tuple / dict of them).
    output: Any


class LayerGradient(NamedTuple):
    """What :meth:`Model.layer_gradient` returns for a batch of rows."""

    #: The explained score of every row, shape (rows,).
    scores: torch.Tensor
    #: The layer's activation, shape (rows, n_filters, n_positions).
    activation: torch.Tensor
    #: d score / d activation, same shape.
    grad: torch.Tensor
    #: The raw model output for the rows.
    output: Any


@runtime_checkable
class Model(Protocol):
    """What chronolens needs from a model.

    Attributes
    ----------
    differentiable : bool
        True when :meth:`gradient` works (gradient methods).
    reads_layers : bool
        True when layer activations can be read (:meth:`layer_output`, :meth:`layer_gradient`,
        CAM methods).
    propagates_rules : bool
        True when :meth:`rule_gradient` works: the model's layers are torch modules whose
        backward pass a method may change for one call (DeepLIFT, LRP, guided backpropagation).
    device : torch.device
        Where tensors for the model should live.
    max_rows : int or None
        The most rows the model accepts per call (1 for a program exported from a single
        example); None: no limit beyond the memory budget.
    """

    differentiable: bool
    reads_layers: bool
    propagates_rules: bool
    device: torch.device
    max_rows: int | None

    def session(self) -> AbstractContextManager[None]:
        """Enter explanation mode (eval mode, no parameter gradients); restore everything after."""
        ...

    def scores(self, x: torch.Tensor) -> Any:
        """Return the raw model output for ``x`` without building a graph."""
        ...

    def gradient(self, x: torch.Tensor, target: Target, layer: str | None = None) -> Gradient:
        """Return the target score per row, its gradient w.r.t. ``x`` and the raw output.

        With ``layer``, ``target`` selects from that layer's activation (chronolens layout)
        instead of the model output (activation maximization of a filter); ``output`` is then
        None.
        """
        ...

    def rule_gradient(
        self,
        x: torch.Tensor,
        target: Target,
        rules: Callable[[torch.nn.Module], AbstractContextManager[None]],
    ) -> Gradient:
        """Like :meth:`gradient`, with the backward pass changed by ``rules`` for this call.

        ``rules(module)`` receives the model as a torch module, changes how its layers pass
        gradients back (with hooks it removes on exit) and must leave the module as it found it;
        it is entered inside :meth:`session`, so the model's lock is held throughout.
        """
        ...

    def layer_gradient(
        self, x: torch.Tensor, target: Target, layer: str, *, head_only: bool = False
    ) -> LayerGradient:
        """Return target scores, the layer's activation, its gradient and the raw output.

        ``head_only=True`` allows the adapter to record the graph from the layer on only.
        """
        ...

    def layer_output(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Return the layer's activation without building a graph."""
        ...

    def edited_scores(
        self, x: torch.Tensor, layer: str, edit: Callable[[torch.Tensor], torch.Tensor]
    ) -> Any:
        """Return the model output for ``x`` with ``layer``'s activation replaced by ``edit(A)``.

        ``edit`` receives the activation in the chronolens layout ``(rows, filters, positions)``
        and returns a tensor of that shape (Ablation-CAM zeroes one filter per row). No graph.
        """
        ...

    def module_outputs(self, x: torch.Tensor) -> list[tuple[str, Any]]:
        """Run ``x`` once and return ``(layer name, output)`` of every layer that ran."""
        ...

    def layers(self) -> list[str]:
        """Names of the layers, in the order the model defines them."""
        ...

    def resolve_layer(
        self, layer: object, n_channels: int, n_timepoints: int, rank: int = 3
    ) -> str:
        """Return the name of ``layer`` (a name or a layer object), checking it has a time axis."""
        ...

    def default_cam_layer(self, n_channels: int, n_timepoints: int, rank: int = 3) -> str:
        """Return the last layer whose output still has a time axis."""
        ...

    def layer_centers(self, layer: str, n_channels: int, n_timepoints: int) -> np.ndarray | None:
        """Receptive-field centres of the layer's positions, if known without probing."""
        ...

    def row_bytes(self, n_channels: int, n_timepoints: int) -> tuple[int, int] | None:
        """Activation bytes one input row needs: (all activations, largest single tensor).

        None when unknown (black boxes): batching then uses a fixed number of rows.
        """
        ...

    def expected_channels(self) -> int | None:
        """Input channels the model declares, when it does (for error messages)."""
        ...

    def sequential_view(self) -> torch.nn.Sequential | None:
        """The model as an ``nn.Sequential`` of torch layers, for the incremental engine.

        None when the model is not one (the engine then recomputes perturbed series in full).
        """
        ...

    def weight_layers(self, x: torch.Tensor) -> list[str]:
        """Layers that own trainable weights, in the order the forward pass runs them."""
        ...

    def randomized(
        self, layers: Sequence[str], seed: int, clone: Callable[[], Any] | None = None
    ) -> Any:
        """A copy of the user's model with the weights of ``layers`` re-drawn.

        The model itself is never modified; ``clone`` returns a fresh copy for models that
        cannot be copied. The rule is in :mod:`chronolens.models._randomize`.
        """
        ...

    def cache_identity(self) -> tuple[object, Hashable] | None:
        """``(owner, structure)`` for caches of structural facts (receptive fields).

        ``owner`` is the object the facts belong to (held weakly), ``structure`` a hashable
        summary of everything the facts depend on, so an edited model is never served stale
        facts. None: do not cache.
        """
        ...
