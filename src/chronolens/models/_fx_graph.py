"""A torch model's forward as a flat graph of operations (``torch.fx`` or ``torch.export``).

The exact incremental occlusion engine for graphs
(:mod:`chronolens.attribution._incremental_graph`) reads a model as a list of operations, each
taking earlier operations' values: residual additions, concatenations and branches included.
:func:`graph_view` builds that list:

- a model written as ``class Net(nn.Module)`` is traced with ``torch.fx`` on a copy that shares
  its parameters and buffers (the forward's side effects land on the copy); calls of standard
  ``torch.nn`` layers stay calls of the user's own submodules (so a session's eval mode applies);
- a ``torch.export`` program unflattened back into modules (what ``chronolens.load_model``
  returns for a ``.pt2`` archive) and an ``fx.GraphModule`` (``ExportedProgram.module()``) are
  read from their graphs, with nested graph modules inlined: their operations are ``aten`` ops.

None when the forward cannot be traced or takes more than one input. The view only refers to
the user's submodules and tensors; nothing of the user's module is modified.
"""

from __future__ import annotations

import copy
import operator
import weakref
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn


@dataclass(frozen=True)
class Ref:
    """The value of operation ``index`` of the graph."""

    index: int


@dataclass
class Op:
    """One operation: ``kind`` is "input", "constant", "module", "function" or "method".

    ``target`` is the module (for "module"), the function, the method name, or for "constant"
    the tensor or value itself. ``args`` / ``kwargs`` hold :class:`Ref` for operation values.
    """

    kind: str
    target: Any
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def inputs(self) -> list[int]:
        """Indices of the operations this one reads, in argument order (repeats kept)."""
        found: list[int] = []
        _collect((self.args, self.kwargs), found)
        return found


def _collect(value: Any, found: list[int]) -> None:
    if isinstance(value, Ref):
        found.append(value.index)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _collect(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)


@dataclass
class GraphView:
    """Operations in execution order (operation 0 is the input) and the output's index."""

    ops: list[Op]
    output: int


def _standard_layer(module: nn.Module) -> bool:
    return type(module).__module__.startswith("torch.nn.")


def _fetch(root: nn.Module, path: str) -> Any:
    value: Any = root
    for part in path.split("."):
        value = getattr(value, part)
    return value


class _Builder:
    """Flattens an fx graph (and the graphs of nested graph modules) into :class:`Op` s."""

    def __init__(self, user_root: nn.Module) -> None:
        self.user_root = user_root
        self.ops: list[Op] = [Op("input", None)]

    def add(self, op: Op) -> Ref:
        self.ops.append(op)
        return Ref(len(self.ops) - 1)

    def inline(self, graph: fx.Graph, owner: nn.Module, prefix: str, inputs: list[Any]) -> Any:
        """Append ``graph``'s operations; return what its output node returns (Refs inside)."""
        env: dict[fx.Node, Any] = {}
        placeholders = iter(inputs)
        for node in graph.nodes:
            if node.op == "placeholder":
                env[node] = next(placeholders)
            elif node.op == "output":
                return fx.node.map_arg(node.args[0], env.__getitem__)
            elif node.op == "get_attr":
                env[node] = self.add(Op("constant", _fetch(owner, str(node.target))))
            else:
                env[node] = self.call(node, owner, prefix, env)
        raise ValueError("graph without an output node")

    def call(self, node: fx.Node, owner: nn.Module, prefix: str, env: dict[fx.Node, Any]) -> Any:
        args = fx.node.map_arg(node.args, env.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
        if node.op == "call_module":
            name = f"{prefix}{node.target}"
            sub = owner.get_submodule(str(node.target))
            graph = getattr(sub, "graph", None)
            if isinstance(graph, fx.Graph) and not _standard_layer(sub) and not kwargs:
                return self.inline(graph, sub, f"{name}.", list(args))
            user = _user_module(self.user_root, name, sub)
            return self.add(Op("module", user, tuple(args), dict(kwargs)))
        if node.target is operator.getitem and isinstance(args[0], (tuple, list)):
            position = args[1]
            assert isinstance(position, int)
            return args[0][position]  # indexing a tuple of values the graph built itself
        kind = "function" if node.op == "call_function" else "method"
        return self.add(Op(kind, node.target, tuple(args), dict(kwargs)))


def _user_module(root: nn.Module, name: str, fallback: nn.Module) -> nn.Module:
    """The user's own submodule called ``name`` (the traced copy's when names differ)."""
    try:
        return root.get_submodule(name)
    except AttributeError:
        return fallback


def _graph_of(module: nn.Module) -> tuple[fx.Graph, nn.Module] | None:
    """The module's graph and the module owning its attributes (a traced copy), or None."""
    graph = getattr(module, "graph", None)
    if isinstance(graph, fx.Graph) and (
        isinstance(module, fx.GraphModule) or type(module).__name__ == "UnflattenedModule"
    ):
        return graph, module
    try:  # trace a copy sharing the weights: the forward's side effects land on the copy
        shared = {id(t): t for t in (*module.parameters(), *module.buffers())}
        traced = fx.symbolic_trace(copy.deepcopy(module, shared))
    except Exception:  # an uncopyable attribute, or a forward fx cannot trace
        return None
    return traced.graph, traced


def _build(module: nn.Module) -> GraphView | None:
    found = _graph_of(module)
    if found is None:
        return None
    graph, owner = found
    if sum(node.op == "placeholder" for node in graph.nodes) != 1:
        return None
    builder = _Builder(module)
    try:
        out = builder.inline(graph, owner, "", [Ref(0)])
    except (AttributeError, StopIteration, ValueError, IndexError, TypeError):
        return None
    if isinstance(out, (tuple, list)) and len(out) == 1:  # a program's outputs are a tuple
        out = out[0]
    return GraphView(builder.ops, out.index) if isinstance(out, Ref) else None


_VIEWS: weakref.WeakKeyDictionary[nn.Module, dict[Hashable, GraphView | None]] = (
    weakref.WeakKeyDictionary()
)


def graph_view(module: nn.Module, structure: Hashable) -> GraphView | None:
    """The forward of ``module`` as a flat :class:`GraphView`, or None (cached per structure)."""
    views = _VIEWS.setdefault(module, {})
    if structure not in views:
        with torch.inference_mode(False):
            views[structure] = _build(module)
    return views[structure]
