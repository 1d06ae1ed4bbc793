"""The priors of activation maximization: penalties, their scale, and value ranges."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from chronolens._validation import check_float
from chronolens.models.base import Model
from chronolens.targets import Target


def check_priors(
    l2: Any, tv: Any, lowpass: Any, cutoff: Any, prior_scale: Any
) -> tuple[float, float, float, float, Any]:
    """The checked weights, cutoff and ``prior_scale`` ("auto" or a number >= 0)."""
    weights = [
        check_float(v, n, minimum=0.0) for v, n in ((l2, "l2"), (tv, "tv"), (lowpass, "lowpass"))
    ]
    cutoff = check_float(cutoff, "cutoff", minimum=0.0, maximum=0.5)
    if not (isinstance(prior_scale, str) and prior_scale == "auto"):
        prior_scale = check_float(prior_scale, "prior_scale", minimum=0.0)
    return weights[0], weights[1], weights[2], cutoff, prior_scale


def penalties(x: torch.Tensor, l2: float, tv: float, lowpass: float, cutoff: float) -> torch.Tensor:
    """Per-row penalty: L2, 1-D total variation, energy above ``cutoff`` (cycles per point)."""
    total = l2 * x.pow(2).mean(dim=(1, 2))
    total = total + tv * (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2))
    if lowpass:
        spectrum = torch.fft.rfft(x, dim=-1)
        frequencies = torch.fft.rfftfreq(x.shape[-1])
        high = (frequencies > cutoff).to(x.dtype)
        energy = (spectrum.abs().pow(2) * high).sum(dim=-1) / x.shape[-1] ** 2
        total = total + lowpass * energy.mean(dim=1)
    return total


def prior_scale(
    adapted: Model, target: Target, layer: str | None, ref: np.ndarray | None, given: Any
) -> float:
    """The factor on the penalties: ``given``, or the objective's spread over the reference."""
    if not isinstance(given, str):
        return float(given)
    if ref is None or len(ref) < 2:
        return 1.0
    rows = torch.from_numpy(np.ascontiguousarray(ref[:64], dtype=np.float32))
    value, _, _ = adapted.gradient(rows, target, layer)
    spread = float(value.detach().cpu().double().std())
    return spread if np.isfinite(spread) and spread > 0 else 1.0


def bounds(value_range: Any, ref: np.ndarray | None, c: int) -> tuple[Any, Any] | None:
    """Per-channel (low, high) limits of the prototypes, or None."""
    if isinstance(value_range, str):
        if value_range != "reference":
            raise ValueError(
                f"`value_range` must be 'reference', (low, high) or None; got {value_range!r}."
            )
        return None if ref is None else (ref.min(axis=(0, 2)), ref.max(axis=(0, 2)))
    if value_range is None:
        return None
    low, high = (check_float(v, "value_range") for v in value_range)
    if low >= high:
        raise ValueError(f"`value_range` needs low < high; got {value_range!r}.")
    return (np.full(c, low), np.full(c, high))
