"""The torch adapter's layer table: layer names, time layers, receptive-field centres, sizes.

A mixin of :class:`chronolens.models.torch.TorchModel` (and so of the Keras torch-backend
adapter): everything here is read from one recorded forward pass of a zero series per input
shape. The table keeps only what the lookups read (each output's shape, dtype and which outputs
are the same tensor, as shape-only ``meta`` tensors), cached on the adapter and, across calls,
per user module (held weakly) and structure, like the batch sizes of ``chronolens._batching``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import torch
from torch import nn

from chronolens._validation import suggestion
from chronolens.models._geometry import sequential_centers
from chronolens.models._torch_outputs import has_time_axis, listing, same_tensor

Table = list[tuple[str, Any]]

#: Layer tables per user module (held weakly), keyed on structure, flags and input shape.
_SHARED_TABLES: weakref.WeakKeyDictionary[Any, dict[Hashable, Table]] = weakref.WeakKeyDictionary()


def module_flags(module: nn.Module) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    """Every submodule's public scalar attributes (flags a forward may branch on)."""
    return tuple(
        (
            name,
            tuple(
                sorted(
                    (key, value)
                    for key, value in vars(m).items()
                    if not key.startswith("_") and isinstance(value, bool | int | float | str)
                )
            ),
        )
        for name, m in module.named_modules()
    )


def shape_only(table: Table) -> Table:
    """The table with each tensor output as a ``meta`` tensor of its shape, strides and dtype.

    Outputs that are the same tensor share one meta tensor (``same_tensor`` compares meta
    tensors by identity); outputs that are not tensors (tuples of an RNN, ...) become None:
    no lookup reads them.
    """
    light: Table = []
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    for name, out in table:
        if not isinstance(out, torch.Tensor):
            light.append((name, None))
            continue
        match = next((meta for real, meta in seen if same_tensor(real, out)), None)
        if match is None:
            match = torch.empty_strided(
                tuple(out.shape), tuple(out.stride()), dtype=out.dtype, device="meta"
            )
            seen.append((out, match))
        light.append((name, match))
    return light


class TorchLayerTable:
    """Layer lookup for adapters of torch modules (needs ``module``, ``_named``, ``scripted``)."""

    module: nn.Module
    _named: dict[str, nn.Module]
    scripted: bool
    _table_cache: dict[tuple[int, int], Table]
    _bytes_cache: dict[tuple[int, int], tuple[int, int]]

    module_outputs: Callable[[torch.Tensor], list[tuple[str, Any]]]
    _require_hooks: Callable[[], None]
    cache_identity: Callable[[], tuple[object, Hashable] | None]

    def layers(self) -> list[str]:
        """Names of all layers, in definition order."""
        return list(self._named)

    def _layer_table(self, n_channels: int, n_timepoints: int) -> Table:
        """(name, output) of every layer as it completes, for one zero series: shapes only."""
        key = (n_channels, n_timepoints)
        if key not in self._table_cache:
            self._table_cache[key] = self._shared_table(n_channels, n_timepoints)
        return self._table_cache[key]

    def _shared_table(self, n_channels: int, n_timepoints: int) -> Table:
        def record() -> Table:
            return shape_only(self.module_outputs(torch.zeros(1, n_channels, n_timepoints)))

        identity = self.cache_identity()
        if identity is None:
            return record()
        owner, structure = identity
        try:
            tables = _SHARED_TABLES.setdefault(owner, {})
        except TypeError:  # not weak-referenceable
            return record()
        key = (structure, module_flags(self.module), n_channels, n_timepoints)
        if key not in tables:
            tables[key] = record()
        return tables[key]

    def _time_layers(self, n_channels: int, n_timepoints: int, rank: int = 3) -> list[str]:
        table = self._layer_table(n_channels, n_timepoints)
        return [name for name, out in table if has_time_axis(out, rank)]

    def default_cam_layer(self, n_channels: int, n_timepoints: int, rank: int = 3) -> str:
        """Return the last layer whose output still has a time axis (the deepest one).

        ``rank=4`` looks for (n, filters, rows, time) outputs (dimension-wise networks).
        """
        table = self._layer_table(n_channels, n_timepoints)
        calls: dict[str, int] = {}
        for name, _ in table:
            calls[name] = calls.get(name, 0) + 1
        for _, out in reversed(table):
            if has_time_axis(out, rank):
                # The deepest module that produced this tensor and runs once per forward pass
                # (a shared activation module, called in several places, is ambiguous).
                same = [n for n, o in table if same_tensor(o, out) and calls[n] == 1]
                if same:
                    return max(same, key=lambda n: (n.count("."), -same.index(n)))
        if rank == 4:
            raise ValueError(
                "No layer of this model outputs a (n, filters, rows, time) tensor, so it is not a "
                "dimension-wise network ('dcam' reads the dimension-wise PyTorch networks "
                "chronolens.zoo.dcnn and zoo.dresnet). Train one of those, or use "
                "'channel_grad_cam' on this model."
            )
        raise ValueError(
            "No layer of this model outputs a (n, filters, time) tensor with more than one time "
            "position, so CAM methods cannot be used. Use a gradient method such as "
            "'integrated_gradients' instead."
        )

    def _name_of(self, layer: object, candidates: list[str]) -> str:
        if isinstance(layer, str):
            if layer not in self._named:
                raise ValueError(
                    f"Unknown layer {layer!r}.{suggestion(layer, self.layers())} Layers with a "
                    f"time axis: {listing(candidates)}."
                )
            return layer
        if isinstance(layer, nn.Module):
            names = [name for name, module in self._named.items() if module is layer]
            if not names:
                raise ValueError(
                    f"`layer` {type(layer).__name__} is not a submodule of this model. Pass one "
                    f"of its layers or a layer name: {listing(candidates)}."
                )
            return names[0]
        raise TypeError(
            f"`layer` must be a layer name or one of the model's layers; got "
            f"{type(layer).__name__}."
        )

    def resolve_layer(
        self, layer: object, n_channels: int, n_timepoints: int, rank: int = 3
    ) -> str:
        """Return the name of ``layer`` and check that its output has a time axis."""
        self._require_hooks()
        candidates = self._time_layers(n_channels, n_timepoints, rank)
        name = self._name_of(layer, candidates)
        outputs = [out for n, out in self._layer_table(n_channels, n_timepoints) if n == name]
        if not outputs:
            raise ValueError(
                f"Layer {name!r} does not run during the forward pass. Layers with a time axis: "
                f"{listing(candidates)}."
            )
        if not has_time_axis(outputs[-1], rank):
            shape = tuple(outputs[-1].shape) if isinstance(outputs[-1], torch.Tensor) else "?"
            wanted = "(n, filters, time)" if rank == 3 else "(n, filters, rows, time)"
            raise ValueError(
                f"Layer {name!r} outputs shape {shape}, which has no time axis (this method needs "
                f"{wanted} with more than one position). Layers with a time axis: "
                f"{listing(candidates)}."
            )
        return name

    def _positions(self, layer: str, n_channels: int, n_timepoints: int) -> int | None:
        n_positions = None
        for name, out in self._layer_table(n_channels, n_timepoints):
            if name == layer and isinstance(out, torch.Tensor):
                n_positions = out.shape[-1]
        return n_positions

    def layer_centers(self, layer: str, n_channels: int, n_timepoints: int) -> np.ndarray | None:
        """Receptive-field centres of ``layer``'s positions from the layers' hyper-parameters.

        Known when the path from the input to the layer is a chain of ``nn.Sequential`` children
        made of convolutions, pools and element-wise layers; None otherwise (then the centres are
        measured by probing, see :mod:`chronolens.attribution._receptive_field`).
        """
        n_positions = self._positions(layer, n_channels, n_timepoints)
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
                if isinstance(out, torch.Tensor) and not self._named[name]._modules
            ]
            self._bytes_cache[key] = (sum(sizes) + row, max([*sizes, row]))
        return self._bytes_cache[key]
