"""Exact incremental evaluation of perturbed series for convolutional classifiers.

For a model whose front is a chain of local layers (Conv1d with any stride, dilation and zero
padding; BatchNorm1d in eval mode; element-wise activations; MaxPool1d / AvgPool1d; Dropout in
eval mode) followed by an affine head (Flatten -> Linear, or global average pooling -> Linear),
replacing the values of one time interval changes only a receptive-field slice of each layer.

The plan computes every layer's activations for the unperturbed series once. For each
perturbation (batched over perturbations and cases) it recomputes only a fixed-size slice of
each layer around the change, reading unchanged neighbours from the cached activations, and
passes the change of the last layer through the head as a delta of the target score. The result
is the same as recomputing the whole model (up to floating-point summation order); anything the
analysis cannot prove local falls back to full recomputation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from chronolens._batching import chunks
from chronolens._progress import Progress
from chronolens.attribution._segments import Perturbations
from chronolens.baselines import interval_means
from chronolens.models._geometry import POINTWISE, _chain, as_int, conv_params
from chronolens.models.base import Model
from chronolens.targets import Target


@dataclass
class _Step:
    """One local layer: how to recompute a slice of its output."""

    module: nn.Module
    kind: str  # "pointwise", "conv", "maxpool", "avgpool"
    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    pad_left: int = 0
    pad_right: int = 0
    pad_value: float = 0.0

    def apply(self, window: torch.Tensor) -> torch.Tensor:
        """Apply the layer to an already padded input slice (no further padding)."""
        module = self.module
        if self.kind == "pointwise":
            return module(window)
        if self.kind == "conv":
            assert isinstance(module, nn.Conv1d)
            return F.conv1d(
                window, module.weight, module.bias, self.stride, 0, self.dilation, module.groups
            )
        if self.kind == "maxpool":
            return F.max_pool1d(window, self.kernel, self.stride, 0, self.dilation)
        return F.avg_pool1d(window, self.kernel, self.stride, 0)


def _local_step(module: nn.Module) -> _Step | None:
    params = conv_params(module)
    if params is None:
        return None
    kernel, stride, left, right, dilation = params
    if isinstance(module, nn.InstanceNorm1d) and not module.track_running_stats:
        return None  # normalises with statistics over time: not local
    if isinstance(module, POINTWISE):
        return _Step(module, "pointwise")
    if isinstance(module, nn.Conv1d):
        if module.padding_mode != "zeros":
            return None
        return _Step(module, "conv", kernel, stride, dilation, left, right)
    if isinstance(module, nn.MaxPool1d):
        if module.ceil_mode or module.return_indices:
            return None
        return _Step(module, "maxpool", kernel, stride, dilation, left, right, float("-inf"))
    assert isinstance(module, nn.AvgPool1d)
    if module.ceil_mode or (left and not module.count_include_pad):
        return None
    return _Step(module, "avgpool", kernel, stride, 1, left, right)


@dataclass
class IncrementalPlan:
    """Local layers plus an affine head, ready to score perturbations incrementally."""

    steps: list[_Step]
    head: str  # "flatten" or "gap"
    linear: nn.Linear

    def _base(self, x: torch.Tensor) -> list[torch.Tensor]:
        activations = [x]
        for step in self.steps:
            source = activations[-1]
            if getattr(step.module, "inplace", False):
                source = source.clone()
            activations.append(step.module(source))
        return activations

    def _head_weights(self, last: torch.Tensor, target: Target) -> torch.Tensor:
        """Target rows of the linear layer: (rows, C, L) for Flatten, (rows, C) for pooling."""
        assert target.indices is not None
        weight = self.linear.weight[target.indices.to(self.linear.weight.device)]
        if self.head == "flatten":
            return weight.reshape(len(weight), last.shape[1], last.shape[2])
        return weight

    def _scores(self, last: torch.Tensor, target: Target) -> torch.Tensor:
        pooled = last.flatten(1) if self.head == "flatten" else last.mean(dim=-1)
        return target.select(self.linear(pooled))

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
        device = self.linear.weight.device
        dtype = self.linear.weight.dtype
        n, _, n_timepoints = x.shape
        m = len(perturbations)
        drops = torch.empty(n, m)
        scores = torch.empty(n)
        starts = torch.from_numpy(perturbations.start)
        stops = torch.from_numpy(perturbations.stop)
        channels = torch.from_numpy(perturbations.channel)
        width = min(perturbations.longest, n_timepoints)
        case_chunk = max(1, min(n, batch_size // 4))
        row_chunk = max(1, batch_size * 4)
        for case_start, case_stop in chunks(n, case_chunk):
            local_x = x[case_start:case_stop].to(device, dtype)
            cases_target = target.take(slice(case_start, case_stop))
            base = self._base(local_x)
            scores[case_start:case_stop] = self._scores(base[-1], cases_target).float().cpu()
            padded = [
                F.pad(activation, (step.pad_left, step.pad_right), value=step.pad_value)
                for activation, step in zip(base[:-1], self.steps)
            ]
            local_replacement = (
                None if replacement is None else replacement[case_start:case_stop].to(device, dtype)
            )
            n_local = case_stop - case_start
            for start, stop in chunks(n_local * m, row_chunk):
                rows = torch.arange(start, stop)
                case, index = rows // m, rows % m
                drop = self._rows(
                    base,
                    padded,
                    local_x,
                    local_replacement,
                    case,
                    starts[index],
                    stops[index],
                    channels[index],
                    width,
                    cases_target.take(case),
                )
                drops[case + case_start, index] = drop.float().cpu()
                progress.advance(stop - start)
        return drops, scores

    def _rows(
        self,
        base: list[torch.Tensor],
        padded: list[torch.Tensor],
        x: torch.Tensor,
        replacement: torch.Tensor | None,
        case: torch.Tensor,
        start: torch.Tensor,
        stop: torch.Tensor,
        channel: torch.Tensor,
        width: int,
        target: Target,
    ) -> torch.Tensor:
        device = x.device
        case, start, stop, channel = (t.to(device) for t in (case, start, stop, channel))
        new, region = input_stretch(x, replacement, case, start, stop, channel, width)
        offset = region
        for layer, step in enumerate(self.steps):
            if step.kind == "pointwise":
                new = step.module(new)
                continue
            length_out = base[layer + 1].shape[-1]
            span = step.dilation * (step.kernel - 1)
            size_in = new.shape[-1]
            size_out = min(length_out, (size_in - 1 + span) // step.stride + 1)
            first = torch.div(
                offset + step.pad_left - span + step.stride - 1, step.stride, rounding_mode="floor"
            )
            first = torch.clamp(first, min=0, max=length_out - size_out)
            needed = (size_out - 1) * step.stride + span + 1
            padded_time = first[:, None] * step.stride + torch.arange(needed, device=device)
            window = padded[layer].unfold(2, needed, 1)[case, :, first * step.stride]
            relative = padded_time - step.pad_left - offset[:, None]
            changed = (relative >= 0) & (relative < size_in)
            picked = new.gather(
                2, relative.clamp(0, size_in - 1)[:, None, :].expand(-1, new.shape[1], -1)
            )
            window = torch.where(changed[:, None, :], picked, window)
            new = step.apply(window)
            offset = first
        last = base[-1]
        size = new.shape[-1]
        delta = new - last.unfold(2, size, 1)[case, :, offset]
        weights = self._head_weights(last, target)
        if self.head == "flatten":
            rows = torch.arange(len(case), device=device)
            region_weights = weights.unfold(2, size, 1)[rows, :, offset]
            return -(delta * region_weights).sum(dim=(1, 2))
        return -(delta.sum(dim=-1) * weights).sum(dim=1) / last.shape[-1]


def has_hooks(module: nn.Module) -> bool:
    """Some submodule has the user's forward (pre-)hooks, which the engines would not honour.

    Torch's own hooks (a ``torch.export`` module's input checks) do not count.
    """
    hooks = [
        hook
        for m in module.modules()
        for hook in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())
    ]
    return any(not str(getattr(hook, "__module__", "")).startswith("torch.") for hook in hooks)


def input_stretch(
    x: torch.Tensor,
    replacement: torch.Tensor | None,
    case: torch.Tensor,
    start: torch.Tensor,
    stop: torch.Tensor,
    channel: torch.Tensor,
    width: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Perturbed input over a ``width``-point slice holding each row's interval, and its start.

    Row ``r`` replaces ``x[case[r]]`` on ``start[r] ... stop[r] - 1`` in channel ``channel[r]``
    (-1: every channel) by ``replacement`` (None: the interval's mean per channel).
    """
    device = x.device
    n_channels, n_timepoints = x.shape[1], x.shape[2]
    region = torch.clamp(start, max=n_timepoints - width)
    time = region[:, None] + torch.arange(width, device=device)
    channel_index = torch.arange(n_channels, device=device)
    # Slices of equal width at per-row offsets: index a sliding-window view (no copy) with
    # one (case, offset) pair per row, instead of one index per element.
    gathered = x.unfold(2, width, 1)[case, :, region]
    inside = (time >= start[:, None]) & (time < stop[:, None])
    chosen = (channel[:, None] == -1) | (channel[:, None] == channel_index[None, :])
    replace = chosen[:, :, None] & inside[:, None, :]
    if replacement is None:
        values = interval_means(x, case, start, stop)[:, :, None].expand_as(gathered)
    else:
        values = replacement.unfold(2, width, 1)[case, :, region]
    return torch.where(replace, values, gathered), region


def incremental_plan(
    model: Model, target: Target, n_channels: int, n_timepoints: int
) -> IncrementalPlan | None:
    """Return a plan when the model is a local chain + affine head and the target a class."""
    module = model.sequential_view()
    if target.indices is None or module is None or has_hooks(module):
        return None
    leaves = [m for _, m in _chain(module) if not isinstance(m, nn.Sequential)]
    steps: list[_Step] = []
    while leaves:
        step = _local_step(leaves[0])
        if step is None:
            break
        steps.append(step)
        leaves.pop(0)
    rest = [m for m in leaves if not isinstance(m, (nn.Dropout, nn.Identity))]
    if not steps or not rest or not isinstance(rest[-1], nn.Linear):
        return None
    head_layers = rest[:-1]
    if len(head_layers) == 1 and isinstance(head_layers[0], nn.Flatten):
        head = "flatten"
    elif (
        len(head_layers) in (1, 2)
        and isinstance(head_layers[0], nn.AdaptiveAvgPool1d)
        and as_int(head_layers[0].output_size) == 1
        and all(isinstance(m, nn.Flatten) for m in head_layers[1:])
    ):
        head = "gap"
    else:
        return None
    flatten = head_layers[-1] if isinstance(head_layers[-1], nn.Flatten) else None
    if flatten is not None and (flatten.start_dim != 1 or flatten.end_dim != -1):
        return None
    return IncrementalPlan(steps, head, rest[-1])
