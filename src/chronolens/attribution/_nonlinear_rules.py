"""Backward rules on nonlinearities and pooling layers, installed for one call and then removed.

A :class:`Rules` object is what :meth:`chronolens.models.base.Model.rule_gradient` enters:
``rules(module)`` finds the layers of ``module`` that have a rule (torch modules, and the layers
and fused ``activation=`` functions of a Keras model on the torch backend), changes how each
passes gradients back, and undoes every change in a ``finally`` block.

How a rule is installed: the layer computes its output from a detached copy of its input (so
its own small autograd graph stays apart), and the output handed downstream is the same value
attached to the layer's real input by :class:`_Substitute`, whose backward is the rule. Each
call of a layer keeps its own input and output, so a module used several times in the forward
(a shared ``nn.ReLU``) gets the right rule at every use; Captum stores them on the module and
refuses shared modules instead.

The rules (``rule(inputs, outputs, grad_output, vjp) -> grad_input``, ``vjp`` being the layer's
ordinary backward at this call) are Captum's:

- ``rescale`` (DeepLIFT): ``grad_output * (y - y_ref) / (x - x_ref)``, the ordinary gradient
  where ``|x - x_ref| < 1e-10``. Inputs and references are the two halves of the batch.
- ``max_pool`` (DeepLIFT): Captum's rule, which spreads ``grad_output`` times the cross-maximum
  differences back to the arg-max positions of the inputs and of the references (the ordinary
  backward of the pool), divided by ``x - x_ref``.
- ``softmax`` (DeepLIFT): the rescale rule centred by its mean, per case (Captum centres over the
  whole batch, which would make a case's map depend on the others in the call).
- ``guided`` (guided backpropagation): the ordinary ReLU backward, negative values set to 0.
- ``deconv`` (deconvnet): ``grad_output`` with negative values set to 0 (the ReLU's own mask
  ignored).

A nonlinearity called as a function in ``forward`` (``F.relu``) is no layer, so no rule reaches
it; a torch function mode watches for such calls outside ruled layers and records them in
:attr:`Rules.escaped`, so that the methods refuse instead of returning a silently wrong map.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.hooks import RemovableHandle

#: Below this input difference the rescale rule falls back to the ordinary gradient (Captum's).
EPS = 1e-10

Vjp = Callable[[torch.Tensor], torch.Tensor]
Rule = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Vjp], torch.Tensor]


def _difference(values: torch.Tensor) -> torch.Tensor:
    """Input minus reference, for both halves of the batch."""
    inputs, references = values.chunk(2)
    difference = inputs - references
    return torch.cat([difference, difference])


def _fallback(
    d_in: torch.Tensor, ruled: torch.Tensor, grad: torch.Tensor, vjp: Vjp
) -> torch.Tensor:
    """``ruled``, with the ordinary gradient where the input difference is below :data:`EPS`."""
    small = d_in.abs() < EPS
    return torch.where(small, vjp(grad), ruled) if bool(small.any()) else ruled


def rescale(
    inputs: torch.Tensor, outputs: torch.Tensor, grad: torch.Tensor, vjp: Vjp
) -> torch.Tensor:
    """DeepLIFT's rescale rule on an element-wise nonlinearity."""
    d_in, d_out = _difference(inputs), _difference(outputs)
    return _fallback(d_in, grad * d_out / d_in, grad, vjp)


def max_pool(
    inputs: torch.Tensor, outputs: torch.Tensor, grad: torch.Tensor, vjp: Vjp
) -> torch.Tensor:
    """Captum's DeepLIFT rule on max pooling."""
    d_in = _difference(inputs)
    out, out_ref = outputs.chunk(2)
    cross = torch.maximum(out, out_ref)
    spread, spread_ref = vjp(grad * torch.cat([cross - out_ref, out - cross])).chunk(2)
    total = spread + spread_ref
    return _fallback(d_in, torch.cat([total, total]) / d_in, grad, vjp)


def softmax(
    inputs: torch.Tensor, outputs: torch.Tensor, grad: torch.Tensor, vjp: Vjp
) -> torch.Tensor:
    """Captum's DeepLIFT rule on a softmax, centred per case (input and reference rows)."""
    unnormalised = rescale(inputs, outputs, grad, vjp)
    half, half_ref = unnormalised.chunk(2)
    n = half.shape[0]
    mean = (half + half_ref).reshape(n, -1).sum(dim=1) / (2 * half[0].numel())
    shift = mean.view(n, *([1] * (half.ndim - 1)))
    return unnormalised - torch.cat([shift, shift])


def guided(
    inputs: torch.Tensor, outputs: torch.Tensor, grad: torch.Tensor, vjp: Vjp
) -> torch.Tensor:
    """Guided backpropagation on a ReLU: its ordinary backward, negative values set to 0."""
    return vjp(grad).clamp(min=0)


def deconv(
    inputs: torch.Tensor, outputs: torch.Tensor, grad: torch.Tensor, vjp: Vjp
) -> torch.Tensor:
    """Deconvnet on a ReLU: the gradient arriving at it, negative values set to 0."""
    return grad.clamp(min=0)


#: Element-wise torch nonlinearities: DeepLIFT's rescale rule is exact through each. Captum's
#: list is ReLU, ELU, LeakyReLU, Sigmoid, Tanh and Softplus; the others pass the plain gradient
#: there (and its map stops summing to the score difference).
ELEMENTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.PReLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softsign,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.LogSigmoid,
    nn.Threshold,
)
MAX_POOLS = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
#: Keras activation functions (``keras.activations``) that are element-wise.
KERAS_ELEMENTWISE = frozenset(
    "relu relu6 leaky_relu elu selu celu sigmoid hard_sigmoid tanh softplus softsign gelu silu "
    "swish hard_silu hard_swish mish log_sigmoid exponential".split()
)
KERAS_MAX_POOLS = frozenset(
    "MaxPooling1D MaxPooling2D MaxPooling3D GlobalMaxPooling1D GlobalMaxPooling2D "
    "GlobalMaxPooling3D".split()
)
KERAS_ELEMENTWISE_LAYERS = frozenset({"ReLU", "LeakyReLU", "ELU", "PReLU"})

#: Torch functions that, called outside a ruled layer, escape the rules of each kind.
ESCAPES = {
    "deeplift": frozenset(
        "relu relu_ relu6 leaky_relu leaky_relu_ elu elu_ selu selu_ celu celu_ prelu gelu silu "
        "mish hardtanh hardtanh_ hardsigmoid hardswish sigmoid sigmoid_ tanh tanh_ softplus "
        "softsign logsigmoid softmax _softmax max_pool1d max_pool2d max_pool3d _max_pool1d "
        "_max_pool2d _max_pool3d max_pool1d_with_indices max_pool2d_with_indices "
        "max_pool3d_with_indices adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d "
        "_adaptive_max_pool1d _adaptive_max_pool2d _adaptive_max_pool3d".split()
    ),
    "guided": frozenset({"relu", "relu_"}),
    "deconv": frozenset({"relu", "relu_"}),
}


def _torch_rule(module: nn.Module, kind: str) -> Rule | None:
    if kind != "deeplift":
        return (guided if kind == "guided" else deconv) if isinstance(module, nn.ReLU) else None
    if isinstance(module, ELEMENTWISE):
        return rescale
    if isinstance(module, MAX_POOLS):
        return max_pool
    return softmax if isinstance(module, nn.Softmax) else None


def _keras_function_rule(function: Any, kind: str) -> Rule | None:
    """The rule of a Keras activation function (``keras.activations.<name>``), if it has one."""
    if not str(getattr(function, "__module__", "")).startswith("keras."):
        return None
    name = getattr(function, "__name__", "")
    if kind != "deeplift":
        return (guided if kind == "guided" else deconv) if name == "relu" else None
    if name in KERAS_ELEMENTWISE:
        return rescale
    return softmax if name == "softmax" else None


def _keras_layer_rule(layer: Any, kind: str) -> Rule | None:
    """The rule of a Keras layer applied as a whole (activation and pooling layers)."""
    name = type(layer).__name__
    if name == "Activation":
        return _keras_function_rule(layer.activation, kind)
    if kind != "deeplift":
        plain = (
            name == "ReLU"
            and not layer.negative_slope
            and layer.max_value is None
            and not layer.threshold
        )
        return (guided if kind == "guided" else deconv) if plain else None
    if name in KERAS_ELEMENTWISE_LAYERS:
        return rescale
    if name in KERAS_MAX_POOLS:
        return max_pool
    return softmax if name == "Softmax" else None


def _keras_layers(module: nn.Module) -> list[Any]:
    """Every layer of a Keras model (nested ones too); none for other modules."""
    flatten: Any = getattr(module, "_flatten_layers", None)
    if "keras" not in sys.modules or not callable(flatten):
        return []
    return list(flatten(include_self=False, recursive=True))


class _Substitute(torch.autograd.Function):
    """The value ``value``, attached to ``source``: the backward is ``backward(grad_output)``."""

    @staticmethod
    def forward(ctx: Any, source: torch.Tensor, value: torch.Tensor, backward: Any) -> Any:
        ctx.rule_backward = backward
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        return ctx.rule_backward(grad), None, None


def _ruled(source: torch.Tensor, leaf: torch.Tensor, out: Any, rule: Rule, where: str) -> Any:
    """The output ``out`` (computed from ``leaf``) attached to ``source`` through ``rule``."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"{where} returns {type(out).__name__}, not a tensor, so no backward rule applies "
            "to it (a max pool with return_indices=True?). Use a layer that returns one tensor."
        )
    inputs, outputs = leaf.detach(), out.detach()

    def vjp(cotangent: torch.Tensor) -> torch.Tensor:
        (grad,) = torch.autograd.grad(out, leaf, cotangent, retain_graph=True)
        return grad

    def backward(grad: torch.Tensor) -> torch.Tensor:
        return rule(inputs, outputs, grad, vjp)

    return _Substitute.apply(source, outputs, backward)


class _EscapeWatch(TorchFunctionMode):
    """Record the watched torch functions called while no ruled layer is running."""

    def __init__(self, rules: Rules) -> None:
        super().__init__()
        self.rules = rules

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        rules = self.rules
        if not rules.depth and getattr(func, "__name__", "") in ESCAPES[rules.kind]:
            rules.escaped.add(f"{getattr(func, '__module__', None) or 'torch'}.{func.__name__}")
        return func(*args, **(kwargs or {}))


class Rules:
    """The rules of one method (``"deeplift"``, ``"guided"`` or ``"deconv"``) for one run.

    Call it on a module to get the context manager that installs them
    (:meth:`chronolens.models.base.Model.rule_gradient` does). After each call,
    :attr:`escaped` names the nonlinear torch functions the forward called outside any ruled
    layer, :attr:`ruled` counts the layer calls that went through a rule and :attr:`softmax`
    says whether one of them was a softmax.
    """

    def __init__(self, kind: str) -> None:
        if kind not in ESCAPES:
            raise ValueError(f"Unknown rule kind {kind!r}; one of {', '.join(ESCAPES)}.")
        self.kind = kind
        self.depth = 0
        self.ruled = 0
        self.softmax = False
        self.escaped: set[str] = set()

    def __call__(self, module: nn.Module) -> AbstractContextManager[None]:
        """The context manager that installs the rules on ``module``'s layers."""
        return self._installed(module)

    def _enter(self, rule: Rule) -> None:
        self.depth += 1
        self.ruled += 1
        self.softmax = self.softmax or rule is softmax

    def _hook(self, module: nn.Module, rule: Rule, where: str) -> list[RemovableHandle]:
        pending: list[tuple[torch.Tensor, torch.Tensor] | None] = []

        def before(_module: nn.Module, args: tuple[Any, ...]) -> Any:
            self._enter(rule)
            source = args[0] if args else None
            if not isinstance(source, torch.Tensor) or not source.requires_grad:
                pending.append(None)
                return None
            leaf = source.detach().requires_grad_(True)
            pending.append((source, leaf))
            return (leaf.clone(), *args[1:])  # a clone: an in-place layer cannot alter ``leaf``

        def after(_module: nn.Module, _args: Any, out: Any) -> Any:
            self.depth -= 1
            call = pending.pop()
            return None if call is None else _ruled(call[0], call[1], out, rule, where)

        return [module.register_forward_pre_hook(before), module.register_forward_hook(after)]

    def _wrap(self, function: Callable[..., Any], rule: Rule, where: str) -> Callable[..., Any]:
        def ruled(z: Any, *args: Any, **kwargs: Any) -> Any:
            self._enter(rule)
            try:
                if not isinstance(z, torch.Tensor) or not z.requires_grad:
                    return function(z, *args, **kwargs)
                leaf = z.detach().requires_grad_(True)
                out = function(leaf, *args, **kwargs)
            finally:
                self.depth -= 1
            return _ruled(z, leaf, out, rule, where)

        return ruled

    @contextmanager
    def _installed(self, module: nn.Module) -> Iterator[None]:
        handles: list[RemovableHandle] = []
        replaced: list[tuple[Any, Any]] = []
        self.depth = 0
        try:
            for name, sub in module.named_modules():
                rule = _torch_rule(sub, self.kind)
                if rule is not None:
                    handles += self._hook(sub, rule, f"Layer {name or type(sub).__name__!r}")
            for layer in _keras_layers(module):
                where = f"Layer {layer.name!r}"
                rule = _keras_layer_rule(layer, self.kind)
                if rule is not None:
                    handles += self._hook(layer, rule, where)
                    continue
                fused = vars(layer).get("activation")  # not a read-only property (LSTM)
                rule = _keras_function_rule(fused, self.kind) if callable(fused) else None
                if rule is not None:
                    assert fused is not None
                    replaced.append((layer, fused))
                    layer.activation = self._wrap(fused, rule, f"{where}'s activation")
            with _EscapeWatch(self):
                yield
        finally:
            for handle in handles:
                handle.remove()
            for layer, original in reversed(replaced):
                layer.activation = original
            self.depth = 0
