"""What each operation of a traced graph does along time, for the incremental graph engine.

:func:`classify` reads one operation of a :class:`~chronolens.models._fx_graph.GraphView` whose
time-dependent inputs are all (n, c, t) activations and says how a change confined to a stretch
of time travels through it:

- ``"point"``: element-wise along time (activations, eval-mode batch norm and dropout,
  arithmetic with scalars or per-channel constants): the changed stretch stays where it is;
- ``"local"``: a convolution or pooling (:class:`Local`): the stretch grows by the receptive
  field and moves with the stride;
- ``"merge"``: ``add`` / ``sub`` / ``mul`` / ``div`` of same-shape activations, or ``cat`` along
  channels: the stretch is the union of the inputs' stretches;
- ``"reduce"``: mean, sum or max over time, adaptive pooling to 1, or flatten: time ends here.

None for anything else: the engine then recomputes perturbed series in full. Functions are
recognised in their ``torch`` / ``torch.nn.functional`` / method forms and as the ``aten`` ops
of ``torch.export`` programs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from chronolens.models._fx_graph import Op, Ref
from chronolens.models._geometry import POINTWISE, as_int, conv_params


@dataclass
class Local:
    """A convolution or pool: geometry and how to apply it to an already padded slice."""

    apply: Callable[[torch.Tensor], torch.Tensor]
    kernel: int
    stride: int
    dilation: int
    pad_left: int
    pad_right: int
    pad_value: float = 0.0

    @property
    def span(self) -> int:
        """Input positions one output reads, minus one."""
        return self.dilation * (self.kernel - 1)


_POINT_FUNCTIONS = {
    torch.relu, F.relu, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, F.gelu, F.elu, F.silu,
    F.leaky_relu, F.relu6, F.hardtanh, F.softplus, F.mish, F.hardswish, F.selu, F.celu,
    torch.clamp, torch.abs, torch.neg,
}  # fmt: skip
_POINT_NAMES = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "gelu", "silu", "silu_", "elu",
    "elu_", "leaky_relu", "leaky_relu_", "hardtanh", "hardtanh_", "relu6", "softplus", "mish",
    "hardswish", "selu", "celu", "clamp", "clamp_", "abs", "neg", "contiguous", "clone",
}  # fmt: skip
_ARITHMETIC = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub,
               torch.mul, torch.div}  # fmt: skip
_ARITHMETIC_NAMES = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_"}
_MEANS = {torch.mean: "mean", torch.sum: "sum", torch.amax: "max"}
_REDUCE_NAMES = {"mean": "mean", "sum": "sum", "amax": "max"}


def aten_name(op: Op) -> str | None:
    """``"relu"`` for ``torch.ops.aten.relu.default`` (any overload), None for other targets."""
    schema = getattr(op.target, "_schema", None)
    if op.kind != "function" or schema is None or not schema.name.startswith("aten::"):
        return None
    return str(schema.name)[len("aten::") :]


def call_name(op: Op) -> str | None:
    """The method name, or the aten op's name, or None."""
    return str(op.target) if op.kind == "method" else aten_name(op)


def is_inplace(op: Op) -> bool:
    """The operation may write into its input (``inplace=True``, ``relu_``, ``add_``)."""
    name = call_name(op)
    module_inplace = op.kind == "module" and bool(getattr(op.target, "inplace", False))
    return module_inplace or bool(op.kwargs.get("inplace")) or bool(name and name.endswith("_"))


def _per_channel(value: Any) -> bool:
    """A value that broadcasts against (n, c, t) without varying along time or cases."""
    if not isinstance(value, torch.Tensor):
        return isinstance(value, (int, float, bool))
    if value.numel() == 1:
        return True
    if value.ndim == 3:
        return value.shape[0] == 1 and value.shape[2] == 1
    return value.ndim == 2 and value.shape[1] == 1


def _arguments(op: Op, values: list[Any], timed: set[int]) -> tuple[list[int], list[Any]]:
    """Indices of time-dependent inputs, and the values of every other argument."""
    time_inputs = [i for i in op.inputs() if i in timed]
    others = [values[i] for i in op.inputs() if i not in timed]
    return time_inputs, others


def _point_module(module: nn.Module) -> bool:
    if isinstance(module, nn.InstanceNorm1d):  # statistics over time unless tracked
        return bool(module.track_running_stats)
    return isinstance(module, POINTWISE)


def point(op: Op, values: list[Any], timed: set[int]) -> bool:
    """True when ``op`` is element-wise along time on its single time-dependent input."""
    time_inputs, others = _arguments(op, values, timed)
    if len(time_inputs) != 1 or op.args[:1] != (Ref(time_inputs[0]),):
        return False
    if op.kind == "module":
        return _point_module(op.target) and len(op.args) == 1
    name = call_name(op)
    if op.target in _ARITHMETIC or name in _ARITHMETIC_NAMES:
        return all(_per_channel(v) for v in others)
    if name == "batch_norm":  # aten.batch_norm(x, w, b, mean, var, training, ...)
        return op.args[5:6] == (False,)
    if name == "dropout":
        return op.args[2:3] == (False,) or op.kwargs.get("train") is False
    if op.kind != "method" and op.target is F.batch_norm:
        return op.kwargs.get("training", op.args[5] if len(op.args) > 5 else False) is False
    known = op.target in _POINT_FUNCTIONS or name in _POINT_NAMES
    return known and not any(isinstance(v, torch.Tensor) for v in others)


def merge(op: Op, values: list[Any], timed: set[int]) -> bool:
    """True for ``a + b`` (and -, *, /) of same-shape activations or ``cat`` along channels."""
    time_inputs, others = _arguments(op, values, timed)
    shapes = {tuple(values[i].shape) for i in time_inputs}
    name = call_name(op)
    if op.target is torch.cat or name == "cat":
        parts = op.args[0] if op.args else op.kwargs.get("tensors")
        dim = op.kwargs.get("dim", op.args[1] if len(op.args) > 1 else 0)
        same_length = len({(s[0], s[2]) for s in shapes}) == 1
        all_timed = isinstance(parts, (list, tuple)) and all(
            isinstance(p, Ref) and p.index in timed for p in parts
        )
        return all_timed and dim in (1, -2) and same_length and not op.kwargs.keys() - {"dim"}
    arithmetic = op.target in _ARITHMETIC or name in _ARITHMETIC_NAMES
    scalars = all(isinstance(v, (int, float)) for v in others)
    return arithmetic and len(time_inputs) >= 2 and len(shapes) == 1 and scalars


def _ints(value: Any, default: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return int(value[0]) if value else default
    return value


def _pool_module(op: Op, max_pool: bool) -> nn.Module | None:
    names: tuple[str, ...] = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
    names += ("return_indices",) if max_pool else ()
    if not max_pool:
        names = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
    options = {**dict(zip(names, op.args[1:])), **op.kwargs}
    if set(options) - set(names) or any(isinstance(v, Ref) for v in options.values()):
        return None
    options = {k: _ints(v, None if k == "stride" else v) for k, v in options.items()}
    return nn.MaxPool1d(**options) if max_pool else nn.AvgPool1d(**options)


def _module_local(module: nn.Module) -> Local | None:
    params = conv_params(module)
    if params is None or isinstance(module, POINTWISE):
        return None
    kernel, stride, left, right, dilation = params
    if isinstance(module, nn.Conv1d):
        if module.padding_mode != "zeros":
            return None

        def conv(window: torch.Tensor) -> torch.Tensor:
            return F.conv1d(window, module.weight, module.bias, stride, 0, dilation, module.groups)

        return Local(conv, kernel, stride, dilation, left, right)
    if isinstance(module, nn.MaxPool1d):
        if module.ceil_mode or module.return_indices:
            return None
        return Local(
            lambda w: F.max_pool1d(w, kernel, stride, 0, dilation),
            *(kernel, stride, dilation, left, right, float("-inf")),
        )
    assert isinstance(module, nn.AvgPool1d)
    if module.ceil_mode or (left and not module.count_include_pad):
        return None
    return Local(lambda w: F.avg_pool1d(w, kernel, stride, 0), kernel, stride, 1, left, right)


def _conv_local(op: Op, values: list[Any], name: str | None) -> Local | None:
    """``F.conv1d`` / ``aten.conv1d`` / ``aten.convolution`` with constant weights."""
    args = [values[a.index] if isinstance(a, Ref) else a for a in op.args[1:]]
    if name == "convolution":  # (x, w, b, stride, padding, dilation, transposed, out_pad, groups)
        if len(args) != 8 or args[5] or any(args[6]):
            return None
        weight, bias, stride, padding, dilation, groups = args[0], args[1], *args[2:5], args[7]
    else:
        names = ("weight", "bias", "stride", "padding", "dilation", "groups")
        options = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}
        options |= dict(zip(names, args))
        options |= {k: values[v.index] if isinstance(v, Ref) else v for k, v in op.kwargs.items()}
        if set(options) - set(names):
            return None
        weight, bias, stride = options["weight"], options["bias"], options["stride"]
        padding, dilation, groups = options["padding"], options["dilation"], options["groups"]
    if not isinstance(weight, torch.Tensor) or weight.ndim != 3:
        return None
    kernel, stride, dilation = int(weight.shape[-1]), _ints(stride, 1), _ints(dilation, 1)
    if padding in ("same", "valid"):
        total = dilation * (kernel - 1) if padding == "same" else 0
        left, right = total // 2, total - total // 2
    else:
        left = right = _ints(padding, 0)
    if not all(isinstance(v, int) for v in (stride, dilation, left, groups)):
        return None

    def conv(window: torch.Tensor) -> torch.Tensor:
        return F.conv1d(window, weight, bias, stride, 0, dilation, groups)

    return Local(conv, kernel, stride, dilation, left, right)


def local(op: Op, values: list[Any], timed: set[int]) -> Local | None:
    """The geometry of a convolution or pool on the single time-dependent input, or None."""
    time_inputs, _ = _arguments(op, values, timed)
    if len(time_inputs) != 1 or op.args[:1] != (Ref(time_inputs[0]),):
        return None
    if op.kind == "module":
        return _module_local(op.target) if len(op.args) == 1 and not op.kwargs else None
    name = aten_name(op)
    if op.target is F.conv1d or name in ("conv1d", "convolution"):
        return _conv_local(op, values, name)
    if op.target in (F.max_pool1d, F.avg_pool1d) or name in ("max_pool1d", "avg_pool1d"):
        module = _pool_module(op, op.target is F.max_pool1d or name == "max_pool1d")
        return None if module is None else _module_local(module)
    return None


def _time_dims(dims: Any) -> bool:
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    return dims in ((-1,), (2,))


def reduction(op: Op, values: list[Any], timed: set[int]) -> str | None:
    """``"mean"``, ``"sum"``, ``"max"`` (over time) or ``"flatten"`` for a reducing op, or None."""
    time_inputs, others = _arguments(op, values, timed)
    if len(time_inputs) != 1 or op.args[:1] != (Ref(time_inputs[0]),) or others:
        return None
    if op.kind == "module":
        module = op.target
        if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)):
            ones = as_int(module.output_size) == 1
            if isinstance(module, nn.AdaptiveMaxPool1d):
                return "max" if ones and not module.return_indices else None
            return "mean" if ones else None
        flat = isinstance(module, nn.Flatten) and (module.start_dim, module.end_dim) == (1, -1)
        return "flatten" if flat else None
    name = call_name(op)
    rest, kwargs = op.args[1:], dict(op.kwargs)
    if op.target in (F.adaptive_avg_pool1d, F.adaptive_max_pool1d) or name in (
        "adaptive_avg_pool1d",
        "adaptive_max_pool1d",
    ):
        size = kwargs.pop("output_size", rest[0] if rest else None)
        if kwargs or len(rest) > 1 or _ints(size, None) != 1:
            return None
        return "max" if "max" in str(name or op.target.__name__) else "mean"
    if op.target in (torch.flatten,) or name == "flatten":
        start = kwargs.get("start_dim", rest[0] if rest else 0)
        end = kwargs.get("end_dim", rest[1] if len(rest) > 1 else -1)
        return "flatten" if (start, end) == (1, -1) else None
    mode = _MEANS.get(op.target) if op.kind == "function" else None
    mode = mode or _REDUCE_NAMES.get(name or "")
    dims = kwargs.pop("dim", rest[0] if rest else None)
    kwargs.pop("keepdim", None)
    if mode is None or kwargs or len(rest) > 2 or not _time_dims(dims):
        return None
    return mode
