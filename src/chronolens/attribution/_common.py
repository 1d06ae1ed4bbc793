"""Loops over chunks of cases shared by several methods."""

from __future__ import annotations

from typing import Any

import torch

from chronolens._batching import chunks
from chronolens._progress import Progress
from chronolens.models.base import Model
from chronolens.targets import Target


def concatenate(parts: list[Any]) -> Any:
    """Concatenate model outputs along cases: tensors, and tuples, lists or dicts of them."""
    first = parts[0]
    if len(parts) == 1:
        return first
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, (tuple, list)):
        return type(first)(concatenate([p[i] for p in parts]) for i in range(len(first)))
    if isinstance(first, dict):
        return {key: concatenate([p[key] for p in parts]) for key in first}
    raise TypeError(
        f"The model returned {type(first).__name__}; chronolens needs a tensor, or a tuple, "
        "list or dict of tensors with a callable `target`."
    )


def model_output(model: Model, x: torch.Tensor, batch_size: int) -> Any:
    """The raw model output for all cases, in chunks."""
    return concatenate([model.scores(x[start:stop]) for start, stop in chunks(len(x), batch_size)])


def gradients(
    model: Model, x: torch.Tensor, target: Target, batch_size: int, progress: Progress
) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Target scores ``(n,)``, input gradients ``(n, c, t)`` and the raw output of every case."""
    scores = torch.empty(x.shape[0])
    grads = torch.empty_like(x)
    outputs = []
    progress.start(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        s, g, out = model.gradient(x[start:stop], target.take(slice(start, stop)))
        scores[start:stop] = s.cpu()
        grads[start:stop] = g.cpu()
        outputs.append(out)
        progress.advance(stop - start)
    return scores, grads, concatenate(outputs)


def selected_scores(model: Model, x: torch.Tensor, target: Target, batch_size: int) -> torch.Tensor:
    """Target score of every case ``(n,)`` without gradients."""
    out = torch.empty(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        out[start:stop] = target.take(slice(start, stop)).select(model.scores(x[start:stop])).cpu()
    return out
