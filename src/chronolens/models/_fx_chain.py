"""A model written as ``class Net(nn.Module)`` seen as the chain of layers it runs.

The exact incremental occlusion engine (:mod:`chronolens.attribution._incremental`) reads an
``nn.Sequential``. Most models are written with their own ``forward``: a convolutional body, a
mean over time or a flatten, a linear head. :func:`chain_view` traces such a forward with
``torch.fx`` and, when every operation takes the previous one's output and nothing else (a
chain: no residual additions, no concatenations, no shape arithmetic), returns an
``nn.Sequential`` holding the model's own submodules in the order the forward runs them, with
the functional steps written as the modules that compute the same thing:

- ``torch.relu``, ``F.relu``, ``x.relu()`` (and ``sigmoid``, ``tanh``, ``F.gelu``, ``F.elu``,
  ``F.silu``, ``F.leaky_relu`` with their default arguments) -> the activation module;
- ``x.mean(-1)`` / ``x.mean(dim=2)`` / ``torch.mean(x, -1)`` on (n, c, t) ->
  ``AdaptiveAvgPool1d(1)`` then ``Flatten()``; ``F.adaptive_avg_pool1d(x, 1)`` ->
  ``AdaptiveAvgPool1d(1)``;
- ``torch.flatten(x, 1)`` / ``x.flatten(1)`` -> ``Flatten()``.

Anything else (or a forward ``torch.fx`` cannot trace) gives None, and the engine recomputes
perturbed series in full. The user's module is never modified: the view only refers to its
submodules.
"""

from __future__ import annotations

import copy
import operator
import weakref
from collections.abc import Hashable
from typing import Any

import torch
from torch import fx, nn
from torch.nn import functional as F

_ACTIVATIONS: dict[Any, type[nn.Module]] = {
    torch.relu: nn.ReLU,
    F.relu: nn.ReLU,
    "relu": nn.ReLU,
    torch.sigmoid: nn.Sigmoid,
    F.sigmoid: nn.Sigmoid,
    "sigmoid": nn.Sigmoid,
    torch.tanh: nn.Tanh,
    F.tanh: nn.Tanh,
    "tanh": nn.Tanh,
    F.gelu: nn.GELU,
    F.elu: nn.ELU,
    F.silu: nn.SiLU,
    F.leaky_relu: nn.LeakyReLU,
}
_POOLS: dict[Any, tuple[type[nn.Module], tuple[str, ...]]] = {
    F.max_pool1d: (nn.MaxPool1d, ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    F.avg_pool1d: (nn.AvgPool1d, ("kernel_size", "stride", "padding", "ceil_mode")),
}
_MEANS = (torch.mean, "mean")
_FLATTENS = (torch.flatten, "flatten")


def _time_mean(node: fx.Node) -> bool:
    """``mean`` over the last axis of an (n, c, t) tensor, without keepdim."""
    dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
    if node.kwargs.get("keepdim", False) or (len(node.args) > 2 and node.args[2]):
        return False
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    return dims in ((-1,), (2,))


def _flatten_from_one(node: fx.Node) -> bool:
    start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
    end = node.kwargs.get("end_dim", node.args[2] if len(node.args) > 2 else -1)
    return bool(start == 1 and end == -1)


def _pool(node: fx.Node) -> list[nn.Module] | None:
    """``F.max_pool1d`` / ``F.avg_pool1d`` with constant arguments as the pooling module."""
    kind, names = _POOLS[node.target]
    defaults = {"return_indices": False, "count_include_pad": True, "divisor_override": None}
    kwargs = {k: v for k, v in node.kwargs.items() if k not in defaults or v != defaults[k]}
    if len(node.args) - 1 > len(names) or set(kwargs) - set(names):
        return None  # return_indices, count_include_pad, divisor_override: not a plain pool
    options = {**dict(zip(names, node.args[1:])), **kwargs}
    if any(isinstance(value, fx.Node) for value in options.values()):
        return None
    return [kind(**options)]


def _as_modules(node: fx.Node, owner: nn.Module) -> list[nn.Module] | None:
    """The module(s) computing ``node`` from its single input, or None."""
    if node.op == "call_module":
        module = owner.get_submodule(str(node.target))
        return [module] if not node.kwargs and len(node.args) == 1 else None
    extra = len(node.args) > 1 or set(node.kwargs) - {"inplace"}  # inplace: same values
    if node.target in _ACTIVATIONS and not extra:
        return [_ACTIVATIONS[node.target]()]
    if node.target in _POOLS:
        return _pool(node)
    if node.target in _MEANS and _time_mean(node):
        return [nn.AdaptiveAvgPool1d(1), nn.Flatten()]
    if node.target is F.adaptive_avg_pool1d and node.args[1:] in ((1,), ((1,),)):
        return [nn.AdaptiveAvgPool1d(1)]
    if node.target in _FLATTENS and _flatten_from_one(node):
        return [nn.Flatten()]
    return None


_VIEWS: weakref.WeakKeyDictionary[nn.Module, dict[Hashable, nn.Sequential | None]] = (
    weakref.WeakKeyDictionary()
)


def chain_view(module: nn.Module, structure: Hashable) -> nn.Sequential | None:
    """The forward of ``module`` as an ``nn.Sequential`` of what it runs, or None.

    Traced once per module and ``structure`` (the adapter's summary of its layers). Tracing
    runs the Python of ``forward`` on proxies, so it runs on a copy of the module that shares
    its parameters and buffers: a forward that counts its calls or records its inputs on
    ``self`` leaves the user's model as it was. The view holds the user's own submodules.
    """
    views = _VIEWS.setdefault(module, {})
    if structure not in views:
        views[structure] = _trace_chain(module)
    return views[structure]


def _trace_chain(module: nn.Module) -> nn.Sequential | None:
    try:  # trace a copy sharing the weights: the forward's side effects land on the copy
        shared = {id(t): t for t in (*module.parameters(), *module.buffers())}
        graph = fx.symbolic_trace(copy.deepcopy(module, shared)).graph
    except Exception:  # an uncopyable attribute, or a forward fx cannot trace
        return None
    nodes = list(graph.nodes)
    if not nodes or nodes[0].op != "placeholder" or sum(n.op == "placeholder" for n in nodes) != 1:
        return None
    layers: list[nn.Module] = []
    previous = nodes[0]
    for node in nodes[1:]:
        if node.op == "output":
            return nn.Sequential(*layers) if node.args[0] is previous and layers else None
        if node.target is operator.getitem or node.all_input_nodes != [previous]:
            return None
        if node.args[:1] != (previous,) or len(previous.users) != 1:
            return None
        modules = _as_modules(node, module)
        if modules is None:
            return None
        layers.extend(modules)
        previous = node
    return None
