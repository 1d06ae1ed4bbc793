"""Exact incremental evaluation of perturbed series for convolutional graphs (residual nets).

The chain engine (:mod:`chronolens.attribution._incremental`) reads a model as one line of
layers. This engine reads its traced graph (:mod:`chronolens.models._fx_graph`: ``torch.fx``
for a hand-written ``forward``, the graph itself for a ``torch.export`` program): every
operation is classified by :mod:`chronolens.attribution._graph_ops` as point-wise, local
(convolution, pool), a merge of branches (``add`` / ``mul`` / ``cat`` along channels: residual
shortcuts) or a reduction over time (mean, max, adaptive pooling, flatten -> linear); what comes
after the reduction (the head) runs on the reduced vectors as written.

Replacing one interval of the input changes, at each activation, only a stretch of time: the
input stretch at the input; a local operation's stretch is its input's grown by the receptive
field (and moved by the stride); a merge's is the union of its inputs'. For each perturbation
(batched over perturbations and cases) only those stretches are recomputed, reading unchanged
neighbours (and the margins convolutions need) from cached activations of the unperturbed
series. Means and sums over time take the stretch's change, maxima combine the stretch with
prefix and suffix maxima of the rest, and flatten -> linear takes the change through the
weights it meets. The plan is checked once against the model's own output; any operation it
does not know, or any mismatch, leaves the model to full recomputation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from chronolens._batching import chunks
from chronolens._progress import Progress
from chronolens.attribution._graph_ops import Local, is_inplace
from chronolens.attribution._graph_plan import Node, classify_graph
from chronolens.attribution._incremental import has_hooks, input_stretch
from chronolens.attribution._segments import Perturbations
from chronolens.models._fx_graph import GraphView, Op, Ref, graph_view
from chronolens.models.base import Model
from chronolens.models.torch import TorchModel
from chronolens.targets import Target


def substitute(value: Any, lookup: Callable[[Ref], Any]) -> Any:
    """``value`` with every :class:`Ref` inside (tuples, lists, dicts) replaced by ``lookup``."""
    if isinstance(value, Ref):
        return lookup(value)
    if isinstance(value, (tuple, list)):
        return type(value)(substitute(v, lookup) for v in value)
    if isinstance(value, dict):
        return {k: substitute(v, lookup) for k, v in value.items()}
    return value


def evaluate(op: Op, lookup: Callable[[int], Any], inplace: bool = False) -> Any:
    """Run one operation on the values ``lookup`` gives (inputs cloned when it writes in place)."""

    def read(ref: Ref) -> Any:
        value = lookup(ref.index)
        return value.clone() if inplace and isinstance(value, torch.Tensor) else value

    if op.kind == "constant":
        return op.target
    args, kwargs = substitute(op.args, read), substitute(op.kwargs, read)
    if op.kind == "method":
        return getattr(args[0], op.target)(*args[1:], **kwargs)
    return op.target(*args, **kwargs)


def run_graph(view: GraphView, x: torch.Tensor) -> list[Any]:
    """Every operation's value for the series ``x`` (the cache of unperturbed activations)."""
    values: list[Any] = [x]
    for op in view.ops[1:]:
        values.append(evaluate(op, values.__getitem__, is_inplace(op)))
    return values


def graph_source(model: Model) -> tuple[GraphView, TorchModel] | None:
    """The traced graph of a plain PyTorch model (one tensor in, any batch size), or None."""
    if type(model) is not TorchModel or model.scripted or model.sequence_inputs:
        return None
    if model.max_rows is not None:  # an exported program with a fixed batch of one
        return None
    module, structure = model.cache_identity()
    assert isinstance(module, nn.Module)
    if has_hooks(module):  # a hook would see (or change) slices, not the layer's output
        return None
    view = graph_view(module, structure)
    return None if view is None else (view, model)


@dataclass
class _Rows:
    """One batch of (case, perturbation) rows: the cached activations and the changed stretches."""

    base: list[Any]
    case: torch.Tensor
    changed: dict[int, tuple[torch.Tensor, torch.Tensor]]  # activation -> (values, first)
    vectors: dict[int, Any]
    cache: dict[Any, torch.Tensor]

    def padded(self, index: int, left: int, right: int, value: float) -> torch.Tensor:
        key = (index, left, right, value)
        if key not in self.cache:
            self.cache[key] = F.pad(self.base[index], (left, right), value=value)
        return self.cache[key]

    def read(self, index: int, first: torch.Tensor, size: int, local: Local | None) -> torch.Tensor:
        """Activation ``index`` on ``first ... first + size - 1`` (padded as ``local`` pads)."""
        new, new_first = self.changed[index]
        left = right = 0
        source = self.base[index]
        if local is not None and (local.pad_left or local.pad_right):
            left, right = local.pad_left, local.pad_right
            source = self.padded(index, left, right, local.pad_value)
        if not left and size == new.shape[-1] and torch.equal(first, new_first):
            return new
        window = source.unfold(2, size, 1)[self.case, :, first]
        positions = first[:, None] + torch.arange(size, device=first.device) - left
        relative = positions - new_first[:, None]
        inside = (relative >= 0) & (relative < new.shape[-1])
        index_ = relative.clamp(0, new.shape[-1] - 1)[:, None, :].expand(-1, new.shape[1], -1)
        return torch.where(inside[:, None, :], new.gather(2, index_), window)

    def lookup(self, timed: dict[int, torch.Tensor]) -> Callable[[int], Any]:
        def value(index: int) -> Any:
            if index in timed:
                return timed[index]
            return self.vectors[index] if index in self.vectors else self.base[index]

        return value


def _local(rows: _Rows, node: Node, source: int) -> tuple[torch.Tensor, torch.Tensor]:
    local = node.local
    assert local is not None
    new, new_first = rows.changed[source]
    span, stride = local.span, local.stride
    size = min(node.length, (new.shape[-1] - 1 + span) // stride + 1)
    lowest = torch.div(
        new_first + local.pad_left - span + stride - 1, stride, rounding_mode="floor"
    )
    first = lowest.clamp(0, node.length - size)
    window = rows.read(source, first * stride, (size - 1) * stride + span + 1, local)
    return local.apply(window), first


def _merge(rows: _Rows, i: int, node: Node) -> tuple[torch.Tensor, torch.Tensor]:
    sources = sorted(set(node.sources))
    lows = torch.stack([rows.changed[j][1] for j in sources])
    highs = torch.stack([rows.changed[j][1] + rows.changed[j][0].shape[-1] for j in sources])
    low = lows.min(dim=0).values
    size = min(node.length, int((highs.max(dim=0).values - low).max()))
    first = low.clamp(max=node.length - size)
    parts = {j: rows.read(j, first, size, None) for j in sources}
    return evaluate(node.op, rows.lookup(parts), node.inplace), first


def _reduce(rows: _Rows, i: int, node: Node) -> torch.Tensor:
    source = node.sources[0]
    new, first = rows.changed[source]
    base, size = rows.base[source], new.shape[-1]
    shape = (len(rows.case), *rows.base[i].shape[1:])
    if node.mode == "flatten":
        full = base[rows.case].clone()
        index = (first[:, None] + torch.arange(size, device=first.device))[:, None, :]
        return full.scatter_(2, index.expand(-1, new.shape[1], -1), new).flatten(1)
    if node.mode == "max":
        prefix, suffix = _extremes(rows, source)
        outside = torch.maximum(prefix[rows.case, :, first], suffix[rows.case, :, first + size])
        return torch.maximum(outside, new.amax(dim=-1)).reshape(shape)
    delta = new - base.unfold(2, size, 1)[rows.case, :, first]
    change = delta.sum(dim=-1) / (base.shape[-1] if node.mode == "mean" else 1)
    return rows.base[i][rows.case] + change.reshape(shape)


def _extremes(rows: _Rows, source: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Max of positions before t and from t on, for t = 0 ... length (-inf where empty)."""
    key = ("max", source)
    if key not in rows.cache:
        base = rows.base[source]
        empty = torch.full_like(base[:, :, :1], float("-inf"))
        prefix = torch.cat([empty, base.cummax(dim=-1).values], dim=-1)
        suffix = torch.cat([base.flip(-1).cummax(dim=-1).values.flip(-1), empty], dim=-1)
        rows.cache[key] = torch.stack([prefix, suffix])
    both = rows.cache[key]
    return both[0], both[1]


def _flat_linear(rows: _Rows, i: int, node: Node) -> torch.Tensor:
    """``linear(flatten(a))`` from the change of ``a``'s stretch through the weights it meets."""
    assert node.weight is not None
    source = node.sources[0]
    new, first = rows.changed[source]
    base, size = rows.base[source], new.shape[-1]
    delta = new - base.unfold(2, size, 1)[rows.case, :, first]
    weight = node.weight.reshape(len(node.weight), base.shape[1], base.shape[2]).unfold(2, size, 1)
    step = max(1, 2**24 // max(1, weight.shape[0] * weight.shape[1] * size))
    change = torch.cat(
        [
            torch.einsum("rcs,kcrs->rk", delta[a : a + step], weight[:, :, first[a : a + step]])
            for a in range(0, len(first), step)
        ]
    )
    return rows.base[i][rows.case] + change


@dataclass
class GraphPlan:
    """A classified graph of one model, ready to score perturbations incrementally."""

    view: GraphView
    nodes: list[Node]
    model: TorchModel

    def score_drops(
        self,
        x: torch.Tensor,
        target: Target,
        perturbations: Perturbations,
        replacement: torch.Tensor | None,
        batch_size: int,
        progress: Progress,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``f(x) - f(x perturbed)`` for every case and perturbation, shape (n, m)."""
        n, m = x.shape[0], len(perturbations)
        drops, scores = torch.empty(n, m), torch.empty(n)
        with self.model.session():
            for case_start, case_stop in chunks(n, max(1, min(n, batch_size // 4))):
                cases = slice(case_start, case_stop)
                values = None if replacement is None else replacement[cases]
                scores[cases], drops[cases] = self._cases(
                    x[cases], target.take(cases), perturbations, values, batch_size, progress
                )
        return drops, scores

    def _cases(
        self,
        x: torch.Tensor,
        target: Target,
        perturbations: Perturbations,
        replacement: torch.Tensor | None,
        batch_size: int,
        progress: Progress,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and score drops of a few cases, from one cached unperturbed pass."""
        device, dtype = self.model.device, self.model.dtype
        x = x.to(device, dtype)
        replacement = None if replacement is None else replacement.to(device, dtype)
        base = run_graph(self.view, x)
        scores = target.select(base[self.view.output].float()).float().cpu()
        m = len(perturbations)
        drops = torch.empty(len(x), m)
        columns = [torch.from_numpy(a) for a in (perturbations.start, perturbations.stop)]
        channels = torch.from_numpy(perturbations.channel)
        width = min(perturbations.longest, x.shape[-1])
        cache: dict[Any, torch.Tensor] = {}
        for start, stop in chunks(len(x) * m, max(1, batch_size * 4)):
            rows = torch.arange(start, stop)
            case, index = rows // m, rows % m
            on_device = case.to(device)
            begin, end = (c[index].to(device) for c in columns)
            channel = channels[index].to(device)
            new, first = input_stretch(x, replacement, on_device, begin, end, channel, width)
            out = self.rows(base, cache, on_device, new, first)
            perturbed = target.take(case).select(out.float()).float().cpu()
            drops[case, index] = scores[case] - perturbed
            progress.advance(stop - start)
        return scores, drops

    def rows(
        self,
        base: list[Any],
        cache: dict[Any, torch.Tensor],
        case: torch.Tensor,
        new: torch.Tensor,
        first: torch.Tensor,
    ) -> torch.Tensor:
        """The model output for rows whose input is ``new`` from position ``first`` on."""
        rows = _Rows(base, case, {0: (new, first)}, {}, cache)
        for i, node in enumerate(self.nodes):
            if node.kind == "point":
                source = node.sources[0]
                values, start = rows.changed[source]
                out = evaluate(node.op, rows.lookup({source: values}), node.inplace)
                rows.changed[i] = (out, start)
            elif node.kind == "local":
                rows.changed[i] = _local(rows, node, node.sources[0])
            elif node.kind == "merge":
                rows.changed[i] = _merge(rows, i, node)
            elif node.kind == "reduce":
                rows.vectors[i] = _reduce(rows, i, node)
            elif node.kind == "flatlinear":
                rows.vectors[i] = _flat_linear(rows, i, node)
            elif node.kind == "vector":
                rows.vectors[i] = evaluate(node.op, rows.lookup({}), node.inplace)
        return rows.vectors[self.view.output]


def graph_plan(model: Model, x: torch.Tensor) -> GraphPlan | None:
    """A plan when every operation of the model's traced graph is known, checked on ``x[:1]``."""
    source = graph_source(model)
    if source is None:
        return None
    view, torch_model = source
    probe = x[:1].to(torch_model.device, torch_model.dtype)
    try:
        with torch_model.session(), torch.inference_mode():
            values = run_graph(view, probe)
            nodes = classify_graph(view, values)
            expected = torch_model.scores(probe)
    except Exception:  # an operation that does not run on the probe: leave it to the model
        return None
    got = values[view.output]
    if nodes is None or not isinstance(got, torch.Tensor) or not isinstance(expected, torch.Tensor):
        return None
    got, expected = got.float(), expected.float()
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    if got.shape != expected.shape or not torch.allclose(got, expected, 1e-4, 1e-5 * scale + 1e-7):
        return None
    return GraphPlan(view, nodes, torch_model)
