"""Small helpers of the torch adapter: outputs, time axes, messages."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def first_float(module: nn.Module) -> torch.Tensor | None:
    """The module's first floating-point parameter or buffer (its device and dtype).

    Raises
    ------
    ValueError
        When the parameters are on the meta device (shapes only, no values).
    """
    if any(t.is_meta for t in [*module.parameters(), *module.buffers()]):
        raise ValueError(
            "The model's parameters are on the meta device (shapes only, no values), so it "
            "cannot be run. Load its weights first, e.g. model.to_empty(device='cpu') then "
            "model.load_state_dict(state), or build it outside torch.device('meta')."
        )
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return tensor
    return None


def same_tensor(a: Any, b: Any) -> bool:
    """True when two recorded outputs are the same tensor (before any layout change).

    Shape-only ``meta`` tensors (the cached layer tables) are the same only when identical.
    """
    if a is b:
        return True
    return (
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and not (a.is_meta or b.is_meta)
        and a.shape == b.shape
        and a.data_ptr() == b.data_ptr()
        and a.stride() == b.stride()
    )


def detached(output: Any) -> Any:
    """The raw output with every tensor detached and as float (the structure kept)."""
    if isinstance(output, torch.Tensor):
        return output.detach().float()
    if isinstance(output, (tuple, list)):
        return type(output)(detached(v) for v in output)
    if isinstance(output, dict):
        return {key: detached(v) for key, v in output.items()}
    return output


def has_time_axis(output: Any, rank: int = 3) -> bool:
    return isinstance(output, torch.Tensor) and output.ndim == rank and output.shape[-1] > 1


def listing(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[-12:])
    return shown if len(names) <= 12 else f"... {shown}"


def check_differentiable(selected: torch.Tensor) -> None:
    if not selected.requires_grad:
        raise ValueError(
            "The model output does not depend differentiably on its input (no autograd graph): "
            "the model may detach its input, run under torch.no_grad(), or be non-differentiable. "
            "Use a perturbation method (e.g. 'occlusion') instead."
        )
