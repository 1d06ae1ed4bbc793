"""The one-case input check that comes before any work, and what later calls reuse of it.

``check_input`` runs the model on the first case and turns a failure into an error that names
the data's layout (the user's own traceback chained). Its output tells ``explain()`` the shape of
the model's scores. For a model seen before with the same structure, flags and input shape, that
shape is remembered (per user model, held weakly, like ``chronolens._batching``'s sizes), so the
check's forward pass is not repeated; if the work then fails, the check runs after all and gives
the same clear error.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from typing import Any, NoReturn

import torch
from torch import nn

from chronolens.models._torch_layer_table import module_flags
from chronolens.models.base import Model
from chronolens.models.blackbox import ModelOutputError

#: The first output's (shape, dtype) per user model (held weakly) and structure, flags, shape.
_OUTPUTS: weakref.WeakKeyDictionary[Any, dict[Hashable, tuple[tuple[int, ...], torch.dtype]]] = (
    weakref.WeakKeyDictionary()
)


def check_input(model: Model, x: torch.Tensor, layout: str) -> Any:
    """Run the model on one case and return its output.

    A failure says what the model raised (chained, so the user's own traceback shows) and, when
    the shapes suggest it, that the data may be stored the other way round.
    """
    n, c, t = x.shape
    try:
        return model.scores(x[:1])
    except ModelOutputError:
        raise
    except Exception as error:
        other = "nlc" if layout == "ncl" else "ncl"
        expected = model.expected_channels()
        other_reading = f"(n_cases={n}, n_channels={t}, n_timepoints={c})"
        if expected is not None and expected == t and expected != c:
            hint = (
                f" The model's first layer expects {expected} channels: the data looks stored the "
                f"other way. Pass layout={other!r}, which reads it as {other_reading}."
            )
        elif expected is not None and expected != c:
            hint = (
                f" The model's first layer expects {expected} channels. If the data is stored the "
                f"other way, pass layout={other!r}, which reads it as {other_reading}."
            )
        else:
            hint = f" If the data is stored the other way, pass layout={other!r}."
        raise ValueError(
            f"The model failed on the data read with layout={layout!r} as (n_cases={n}, "
            f"n_channels={c}, n_timepoints={t}): {type(error).__name__}: {error}.{hint}"
        ) from error


def _key(model: Model, x: torch.Tensor) -> tuple[Any, Hashable] | None:
    identity = model.cache_identity()
    if identity is None:
        return None
    owner, structure = identity
    flags = module_flags(owner) if isinstance(owner, nn.Module) else ()
    return owner, (structure, flags, tuple(x.shape[1:]), x.dtype)


def first_output_of(model: Model, x: torch.Tensor, layout: str) -> tuple[Any, bool]:
    """The model's output on the first case, and whether the data was checked for it.

    For a model whose output shape is remembered for this structure and input shape, a zero
    tensor of that shape and dtype stands in (only its shape is read) and the data is not
    run: the second item is then False.
    """
    key = _key(model, x)
    remembered: dict[Hashable, tuple[tuple[int, ...], torch.dtype]] | None = None
    if key is not None:
        try:
            remembered = _OUTPUTS.setdefault(key[0], {})
        except TypeError:  # not weak-referenceable
            remembered = None
    if remembered is not None and key is not None and key[1] in remembered:
        shape, dtype = remembered[key[1]]
        return torch.zeros(shape, dtype=dtype), False
    output = check_input(model, x, layout)
    if remembered is not None and key is not None and isinstance(output, torch.Tensor):
        remembered[key[1]] = (tuple(output.shape), output.dtype)
    return output, True


def reraise_clearly(model: Model, x: torch.Tensor, layout: str, error: Exception) -> NoReturn:
    """After a failed run on unchecked data: the check's clear error if it fails, else ``error``."""
    check_input(model, x, layout)
    raise error
