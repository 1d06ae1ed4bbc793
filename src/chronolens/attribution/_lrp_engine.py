"""The LRP engine: hooks that make the backward pass carry relevance instead of gradients.

:class:`LRPRules` is the ``rules`` argument of :meth:`Model.rule_gradient`: called with the
model's torch module it returns a context manager that, for one call, puts a forward hook on
every layer that needs one. Each hook replaces the layer's output by the same values from
:class:`_Relevance`, an autograd function whose backward receives the relevance of the outputs
and returns that of the inputs (the layer's rule), cutting the layer's own gradient. Layers
without a hook (max pooling, flatten, dropout) hand relevance on as their gradient. The model's
own output is hooked last: its backward turns the incoming ``d score / d output`` into
``d score / d output * output``, the output relevance (zennit's ``attr_output`` for a class
score: the score on its class, zeros elsewhere). The input's "gradient" is then the map.

Every hook is removed on exit, on success or on error; the model's parameters and buffers are
read only (batch norms merged as new tensors), so the model leaves the call as it came.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from chronolens.attribution._lrp_canonize import NormStats, merged
from chronolens.attribution._lrp_composites import Composite
from chronolens.attribution._lrp_layers import Layer, refuse, torch_layers
from chronolens.attribution._lrp_rules import STABILIZER, Rule, norm_relevance, stabilize

Backward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class _Relevance(torch.autograd.Function):
    """Forward: the layer's output, unchanged. Backward: ``rule(layer input, relevance)``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, z: torch.Tensor, rule: Backward) -> torch.Tensor:
        ctx.rule = rule
        ctx.x = x.detach()
        return z.clone()

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return ctx.rule(ctx.x, relevance), None, None


class _Sum(torch.autograd.Function):
    """Forward: ``a + b``, unchanged. Backward: shares by value, ``a R / (a + b)``, ``b R / ...``.

    zennit's ``Norm`` rule on its ``Sum`` layer, which its ResNet canonizers put at additions.
    """

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
        ctx.a, ctx.b = a.detach(), b.detach()
        return total.clone()

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        share = relevance / stabilize(ctx.a + ctx.b, STABILIZER)
        return ctx.a * share, ctx.b * share, None


def _passed(x: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    return relevance


@dataclass
class _Call:
    """One call of a convolution or linear layer: its rule, and a batch norm merged into it."""

    layer: Layer
    rule: Rule
    norm: NormStats | None = None

    def backward(self, x: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
        assert self.layer.view is not None
        view, axis = self.layer.view()
        if self.norm is not None:
            weight, bias = merged(view.weight, view.bias, self.norm, axis)
            view = view._replace(weight=weight, bias=bias)
        return self.rule.relevance(view, x, relevance)


@dataclass
class _Pass:
    """State of one forward pass under the rules: produced outputs, the first layer, rules used."""

    composite: Composite
    produced: dict[int, tuple[torch.Tensor, _Call, str]] = field(default_factory=dict)
    first_pending: bool = True
    assigned: dict[str, str] = field(default_factory=dict)
    nodes: dict[Any, torch.Tensor] = field(default_factory=dict)

    def rule_for(self, layer: Layer) -> Rule:
        c = self.composite
        eligible = layer.convolution or not c.first_convolution_only
        if c.first is not None and self.first_pending and eligible:
            self.first_pending = False
            return c.first
        return c.convolution if layer.convolution else c.linear

    def hook(self, layer: Layer) -> Callable[..., Any]:
        """The forward hook of ``layer``: its output, from :class:`_Relevance` with its rule."""

        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            if layer.kind == "sum":
                return self._sum(layer, inputs, output)
            if not _differentiable(inputs, output):
                return None
            x, z = inputs[0], output.detach()
            if layer.kind == "affine":
                call = _Call(layer, self.rule_for(layer))
                self.assigned.setdefault(layer.name, call.rule.name)
                out = _Relevance.apply(x, z, call.backward)
                self.produced[id(out)] = (out, call, layer.name)
            elif layer.kind == "pool":
                self.assigned.setdefault(layer.name, "norm")
                out = _Relevance.apply(x, z, partial(_pooled, layer))
            else:
                if layer.stats is not None:
                    self._merge(layer, x)
                self.assigned.setdefault(layer.name, "pass")
                out = _Relevance.apply(x, z, _passed)
            self.nodes[out.grad_fn] = out
            return out

        return hook

    def pre_hook(self, layer: Layer) -> Callable[..., Any]:
        """The forward pre-hook of ``layer``: a sum of two layers' outputs gets the sum rule.

        A residual addition ``y + shortcut(x)`` feeding the layer hands relevance back in
        proportion to the two terms instead of whole to each (the addition's gradient).
        """

        def hook(module: nn.Module, inputs: tuple[Any, ...]) -> Any:
            x = inputs[0] if inputs else None
            if not isinstance(x, torch.Tensor) or x.grad_fn is None:
                return None
            if x.grad_fn.name() != "AddBackward0" or len(x.grad_fn.next_functions) != 2:
                return None
            a, b = (self.nodes.get(fn) for fn, _ in x.grad_fn.next_functions)
            if a is None or b is None or a.shape != x.shape or b.shape != x.shape:
                return None
            self.assigned.setdefault(f"{layer.name} (its input, a sum)", "norm")
            return (_Sum.apply(a, b, x.detach()), *inputs[1:])

        return hook

    def _sum(self, layer: Layer, inputs: tuple[Any, ...], output: Any) -> Any:
        terms = inputs[0] if len(inputs) == 1 else inputs  # Keras Add: called on a list
        if not isinstance(output, torch.Tensor) or len(terms) != 2:
            raise refuse(layer.name, f"an addition of {len(terms)} terms")
        a, b = terms
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return None
        if a.shape != output.shape or b.shape != output.shape or not output.requires_grad:
            return None
        self.assigned.setdefault(layer.name, "norm")
        out = _Sum.apply(a, b, output.detach())
        self.nodes[out.grad_fn] = out
        return out

    def _merge(self, norm: Layer, x: torch.Tensor) -> None:
        entry = self.produced.get(id(x))
        if entry is None or entry[0] is not x:
            return  # fed by no layer's output: passes relevance unchanged (zennit's Pass)
        assert norm.stats is not None
        entry[1].norm = norm.stats()
        self.assigned.setdefault(norm.name, f"merged into {entry[2]}")


def _pooled(layer: Layer, x: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    assert layer.forward is not None
    return norm_relevance(layer.forward, x, relevance)


def _differentiable(inputs: tuple[Any, ...], output: Any) -> bool:
    return (
        len(inputs) > 0
        and isinstance(inputs[0], torch.Tensor)
        and inputs[0].requires_grad
        and isinstance(output, torch.Tensor)
    )


def _output_hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
    if not isinstance(output, torch.Tensor):
        raise ValueError(
            f"LRP needs a model whose output is one tensor of scores; this one returns "
            f"{type(output).__name__}. Wrap the model so that its forward returns the scores."
        )
    if not output.requires_grad:
        return None

    def relevance(value: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return grad * value

    return _Relevance.apply(output, output.detach(), relevance)


def _is_keras(module: nn.Module) -> bool:
    return type(module).__module__.split(".")[0] == "keras"


def keras_layers(root: nn.Module) -> list[Layer]:
    """The Keras model's layer table (:mod:`._lrp_keras`, which imports keras)."""
    from chronolens.attribution._lrp_keras import keras_layers as table

    return table(root)


class LRPRules:
    """The ``rules`` of :meth:`Model.rule_gradient` for one composite.

    ``assigned`` holds, after a call, the rule each layer received (by layer name).
    """

    def __init__(self, composite: Composite) -> None:
        self.composite = composite
        self.assigned: dict[str, str] = {}

    @contextmanager
    def __call__(self, root: nn.Module) -> Iterator[None]:
        """Install the hooks on ``root`` for the duration of the block; remove them after."""
        table = keras_layers(root) if _is_keras(root) else torch_layers(root)
        state = _Pass(self.composite)
        handles = []
        try:
            for layer in table:
                handles.append(layer.module.register_forward_pre_hook(state.pre_hook(layer)))
                handles.append(layer.module.register_forward_hook(state.hook(layer)))
            handles.append(root.register_forward_hook(_output_hook))
            yield
        finally:
            for handle in handles:
                handle.remove()
            state.produced.clear()
            state.nodes.clear()
            for name, rule in state.assigned.items():
                self.assigned.setdefault(name, rule)
