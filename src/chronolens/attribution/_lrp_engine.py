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
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from chronolens.attribution._lrp_canonize import BATCH_NORMS, check_mergeable, merged
from chronolens.attribution._lrp_composites import (
    AFFINE,
    AVERAGE_POOLS,
    CONVOLUTIONS,
    PASS,
    Composite,
    check_supported,
)
from chronolens.attribution._lrp_rules import LinearView, Rule, norm_relevance

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


def _passed(x: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    return relevance


def _affine_forward(module: nn.Module) -> Callable[..., torch.Tensor]:
    if isinstance(module, CONVOLUTIONS):
        return module._conv_forward  # the layer's padding, stride, dilation, groups
    return F.linear


@dataclass
class _Call:
    """One call of a convolution or linear layer: its rule, and a batch norm merged into it."""

    module: nn.Module
    rule: Rule
    norm: nn.Module | None = None

    def backward(self, x: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
        weight, own_bias = self.module.weight, self.module.bias
        assert isinstance(weight, torch.Tensor)
        bias = own_bias if isinstance(own_bias, torch.Tensor) else None
        if self.norm is not None:
            weight, bias = merged(weight, bias, self.norm)
        view = LinearView(_affine_forward(self.module), weight.detach(), bias)
        if view.bias is not None:
            view = view._replace(bias=view.bias.detach())
        return self.rule.relevance(view, x, relevance)


@dataclass
class _Pass:
    """State of one forward pass under the rules: produced outputs, the first layer, rules used."""

    composite: Composite
    produced: dict[int, tuple[torch.Tensor, _Call, str]] = field(default_factory=dict)
    first_pending: bool = True
    assigned: dict[str, str] = field(default_factory=dict)

    def rule_for(self, module: nn.Module) -> Rule:
        c = self.composite
        eligible = isinstance(module, CONVOLUTIONS) or not c.first_convolution_only
        if c.first is not None and self.first_pending and eligible:
            self.first_pending = False
            return c.first
        return c.convolution if isinstance(module, CONVOLUTIONS) else c.linear

    def affine_hook(self, name: str) -> Callable[..., Any]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            if not _differentiable(inputs, output):
                return None
            call = _Call(module, self.rule_for(module))
            self.assigned.setdefault(name, call.rule.name)
            out = _Relevance.apply(inputs[0], output.detach(), call.backward)
            self.produced[id(out)] = (out, call, name)
            return out

        return hook

    def pass_hook(self, name: str) -> Callable[..., Any]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            if not _differentiable(inputs, output):
                return None
            if isinstance(module, BATCH_NORMS):
                self._merge(name, module, inputs[0])
            self.assigned.setdefault(name, "pass")
            return _Relevance.apply(inputs[0], output.detach(), _passed)

        return hook

    def _merge(self, name: str, norm: nn.Module, x: torch.Tensor) -> None:
        entry = self.produced.get(id(x))
        if entry is None or entry[0] is not x:
            return  # fed by no layer's output: passes relevance unchanged (zennit's Pass)
        check_mergeable(norm, name)
        entry[1].norm = norm
        self.assigned.setdefault(name, f"merged into {entry[2]}")

    def pool_hook(self, name: str) -> Callable[..., Any]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            if not _differentiable(inputs, output):
                return None
            self.assigned.setdefault(name, "norm")

            def rule(x: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
                return norm_relevance(module.forward, x, relevance)

            return _Relevance.apply(inputs[0], output.detach(), rule)

        return hook


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
        check_supported(root)
        state = _Pass(self.composite)
        handles = []
        try:
            for name, module in root.named_modules():
                hook = None
                if isinstance(module, AFFINE):
                    hook = state.affine_hook(name)
                elif isinstance(module, PASS):
                    hook = state.pass_hook(name)
                elif isinstance(module, AVERAGE_POOLS):
                    hook = state.pool_hook(name)
                if hook is not None:
                    handles.append(module.register_forward_hook(hook))
            handles.append(root.register_forward_hook(_output_hook))
            yield
        finally:
            for handle in handles:
                handle.remove()
            state.produced.clear()
            for name, rule in state.assigned.items():
                self.assigned.setdefault(name, rule)
