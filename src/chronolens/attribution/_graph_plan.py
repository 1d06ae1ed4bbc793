"""Classify every operation of a traced graph for the incremental graph engine.

:func:`classify_graph` walks a :class:`~chronolens.models._fx_graph.GraphView` with the values
of one probe run and gives each operation a :class:`Node`: ``"input"``; ``"const"`` (reads no
series: parameters, shapes of constants); ``"point"`` / ``"local"`` / ``"merge"`` (an
(n, c, t) activation whose changed stretch the engine tracks, see
:mod:`chronolens.attribution._graph_ops`); ``"reduce"`` (time reduced away); ``"flatlinear"``
(a linear layer on a flatten of an activation, taken as one step; the flatten is then
``"skip"``, as is an operation whose value nothing reads, such as a program's shape guards);
``"vector"`` (the head: operations on reduced values only, run as written).
None as soon as one operation fits none of these, or its probe output has a shape the
classification does not predict, and for a graph without any convolution or pool (nothing
local to exploit: such models are scored in full).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from chronolens.attribution._graph_ops import Local, aten_name, is_inplace, local, merge, point
from chronolens.attribution._graph_ops import reduction as reduction_mode
from chronolens.models._fx_graph import GraphView, Op, Ref

_TIMED = ("input", "point", "local", "merge")


@dataclass
class Node:
    """How the engine computes one operation (see the module docstring for the kinds)."""

    kind: str
    op: Op
    sources: list[int] = field(default_factory=list)  # time-dependent (or vector) inputs
    local: Local | None = None
    mode: str = ""  # reduce: "mean", "sum", "max" or "flatten"
    weight: torch.Tensor | None = None  # flatlinear: the linear layer's weight
    length: int = 0  # activations: time points
    inplace: bool = False


def _linear_weight(op: Op, values: list[Any]) -> tuple[int, torch.Tensor] | None:
    """(input index, weight) of a linear layer on one input, or None."""
    if not op.args or not isinstance(op.args[0], Ref):
        return None
    if op.kind == "module":
        module = op.target
        plain = isinstance(module, nn.Linear) and len(op.args) == 1 and not op.kwargs
        return (op.args[0].index, module.weight) if plain else None
    if (op.target is F.linear or aten_name(op) == "linear") and not op.kwargs:
        weight = op.args[1] if len(op.args) > 1 else None
        if isinstance(weight, Ref) and isinstance(values[weight.index], torch.Tensor):
            return op.args[0].index, values[weight.index]
    return None


def _fused(
    op: Op, values: list[Any], nodes: list[Node], users: list[int], timed: set[int]
) -> Node | None:
    """``linear(flatten(a))`` as one ``"flatlinear"`` node (marking the flatten skipped)."""
    found = _linear_weight(op, values)
    if found is None:
        return None
    index, weight = found
    flatten = nodes[index]
    if flatten.kind != "reduce" or flatten.mode != "flatten" or users[index] != 1:
        return None
    if any(j in timed for j in op.inputs()[1:]) or weight.ndim != 2:
        return None
    source = flatten.sources[0]
    if weight.shape[1] != values[source][0].numel():
        return None
    flatten.kind = "skip"
    return Node("flatlinear", op, [source], weight=weight)


def _timed_node(op: Op, values: list[Any], timed: set[int], sources: list[int]) -> Node | None:
    inplace = is_inplace(op)
    if point(op, values, timed):
        return Node("point", op, sources[:1], inplace=inplace)
    geometry = local(op, values, timed)
    if geometry is not None:
        return Node("local", op, sources[:1], local=geometry)
    if merge(op, values, timed):
        return Node("merge", op, sources, inplace=inplace)
    mode = reduction_mode(op, values, timed)
    return None if mode is None else Node("reduce", op, sources[:1], mode=mode)


def _shape_ok(node: Node, i: int, values: list[Any]) -> bool:
    """The probe output has the shape the classification predicts."""
    out = values[i]
    source = values[node.sources[0]] if node.sources else None
    if node.kind in _TIMED:
        if not isinstance(out, torch.Tensor) or out.ndim != 3 or not out.is_floating_point():
            return False
        if source is None or out.shape[0] != values[0].shape[0]:
            return node.kind == "input" and out.ndim == 3
        node.length = int(out.shape[-1])
        if node.kind == "local":
            assert node.local is not None
            padded = source.shape[-1] + node.local.pad_left + node.local.pad_right
            return node.length == (padded - node.local.span - 1) // node.local.stride + 1
        if node.kind == "point":
            return out.shape == source.shape
        return node.length == source.shape[-1]
    if node.kind == "reduce":
        assert source is not None
        n, c, t = source.shape
        shapes = [(n, c * t)] if node.mode == "flatten" else [(n, c), (n, c, 1)]
        return isinstance(out, torch.Tensor) and tuple(out.shape) in shapes
    return True


def classify_graph(view: GraphView, values: list[Any]) -> list[Node] | None:
    """A :class:`Node` per operation, or None when one of them is not known."""
    users = [0] * len(view.ops)
    for op in view.ops:
        for j in op.inputs():
            users[j] += 1
    timed, vectors = {0}, set()
    nodes = [Node("input", view.ops[0])]
    if not _shape_ok(nodes[0], 0, values):
        return None
    for i, op in enumerate(view.ops[1:], start=1):
        inputs = op.inputs()
        on_time = [j for j in inputs if j in timed]
        on_vectors = [j for j in inputs if j in vectors]
        node: Node | None
        if not users[i] and i != view.output:  # read by nothing (a program's shape guards)
            node = Node("skip", op)
        elif not on_time and not on_vectors:
            node = Node("const", op)
        elif on_vectors:
            node = _fused(op, values, nodes, users, timed)
            if node is None and not on_time:
                node = Node("vector", op, on_vectors, inplace=is_inplace(op))
        else:
            node = _timed_node(op, values, timed, on_time)
        if node is None or not _shape_ok(node, i, values):
            return None
        nodes.append(node)
        if node.kind in _TIMED:
            timed.add(i)
        elif node.kind not in ("const", "skip"):
            vectors.add(i)
    has_local = any(node.kind == "local" for node in nodes)  # else nothing to gain: in full
    return nodes if view.output in vectors and has_local else None
