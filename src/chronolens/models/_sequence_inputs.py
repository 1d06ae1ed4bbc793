"""Models whose forward takes the lengths, a mask or a packed sequence, not just the series.

A PyTorch sequence model often needs to know where each case ends: ``forward(x, lengths)``
(to call :func:`torch.nn.utils.rnn.pack_padded_sequence`), ``forward(x, mask)`` or
``forward(x, src_key_padding_mask)`` (a transformer), or ``forward(packed)`` taking a
:class:`torch.nn.utils.rnn.PackedSequence`. chronolens reads the forward's signature once and
supplies these itself.

Every batch chronolens sends such a model holds cases of one length ``T`` with no padding:
unequal-length data are always explained one length at a time for these models (padding a
batch would need per-row lengths that perturbation and path methods, which expand each case
into many rows, cannot carry). So the supplied values say "every point is real":

- a lengths argument gets ``torch.full((rows,), T)`` (int64, on the CPU, as
  ``pack_padded_sequence`` requires);
- a valid-point mask (True = real) gets ``torch.ones(rows, T, dtype=bool)`` on the model's
  device; a padding mask (True = padding, PyTorch's ``key_padding_mask`` convention) gets
  ``torch.zeros(rows, T, dtype=bool)``;
- a model taking a ``PackedSequence`` (its first parameter annotated so) gets
  ``pack_padded_sequence(x.transpose(1, 2), lengths, batch_first=True)``, features last.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any, NamedTuple

import torch
from torch import nn

#: Parameter names read as "the number of real points of each row".
LENGTH_NAMES = frozenset(
    {
        "lengths",
        "length",
        "lens",
        "seq_lengths",
        "seq_lens",
        "sequence_lengths",
        "input_lengths",
        "x_lengths",
        "x_lens",
    }
)
#: Parameter names read as a mask that is True on real points.
VALID_MASK_NAMES = frozenset({"mask", "valid_mask", "input_mask", "attention_mask"})
#: Parameter names read as a mask that is True on padding (PyTorch's convention).
PADDING_MASK_NAMES = frozenset(
    {"padding_mask", "pad_mask", "key_padding_mask", "src_key_padding_mask"}
)


class SequenceInputs(NamedTuple):
    """What a model's forward takes beyond the series."""

    #: Names of lengths arguments.
    lengths: tuple[str, ...] = ()
    #: Names of masks that are True on real points.
    valid_masks: tuple[str, ...] = ()
    #: Names of masks that are True on padding.
    padding_masks: tuple[str, ...] = ()
    #: True when the first argument is a PackedSequence.
    packed: bool = False

    def __bool__(self) -> bool:
        return bool(self.lengths or self.valid_masks or self.padding_masks or self.packed)


def _is_packed(annotation: Any) -> bool:
    if annotation is inspect.Parameter.empty:
        return False
    return "PackedSequence" in (annotation if isinstance(annotation, str) else repr(annotation))


def forward_parameters(forward: Any) -> list[inspect.Parameter]:
    """The forward's parameters; a class's forward is inspected once (inspect is slow)."""
    function = getattr(forward, "__func__", None)
    if function is None:
        return list(inspect.signature(forward).parameters.values())
    if function not in _SIGNATURES:
        _SIGNATURES[function] = list(inspect.signature(forward).parameters.values())
    return _SIGNATURES[function]


_SIGNATURES: weakref.WeakKeyDictionary[Any, list[inspect.Parameter]] = weakref.WeakKeyDictionary()


def sequence_inputs(module: nn.Module) -> SequenceInputs:
    """Read what ``module.forward`` takes beyond the series from its signature.

    Raises
    ------
    TypeError
        When the forward has a required argument beyond the series that chronolens cannot
        supply, naming it and the names chronolens understands.
    """
    if isinstance(module, torch.jit.ScriptModule):
        return SequenceInputs()
    try:
        parameters = forward_parameters(module.forward)
    except (TypeError, ValueError):
        return SequenceInputs()
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    named = [p for p in parameters if p.kind in (*positional, inspect.Parameter.KEYWORD_ONLY)]
    if not named or named[0].kind not in positional:
        return SequenceInputs()
    first, rest = named[0], named[1:]
    found: dict[str, list[str]] = {"lengths": [], "valid": [], "padding": []}
    for parameter in rest:
        name = parameter.name
        if name in LENGTH_NAMES:
            found["lengths"].append(name)
        elif name in VALID_MASK_NAMES:
            found["valid"].append(name)
        elif name in PADDING_MASK_NAMES:
            found["padding"].append(name)
        elif parameter.default is inspect.Parameter.empty:
            raise TypeError(
                f"{type(module).__name__}.forward takes a required argument `{name}` that "
                f"chronolens cannot supply. It supplies the series as the first argument and, "
                f"by name, lengths ({', '.join(sorted(LENGTH_NAMES))}), masks True on real "
                f"points ({', '.join(sorted(VALID_MASK_NAMES))}) and masks True on padding "
                f"({', '.join(sorted(PADDING_MASK_NAMES))}). Rename the argument to one of "
                f"these, give it a default, or wrap the model in an nn.Module whose forward "
                f"takes only the series."
            )
    return SequenceInputs(
        tuple(found["lengths"]),
        tuple(found["valid"]),
        tuple(found["padding"]),
        _is_packed(first.annotation),
    )


def call_with(module: nn.Module, inputs: torch.Tensor, spec: SequenceInputs) -> Any:
    """Run ``module`` on ``inputs`` (rows, channels, T), supplying what ``spec`` names."""
    if not spec:
        return module(inputs)
    rows, t = inputs.shape[0], inputs.shape[-1]
    lengths = torch.full((rows,), t, dtype=torch.int64)
    kwargs: dict[str, Any] = dict.fromkeys(spec.lengths, lengths)
    if spec.valid_masks:
        valid = torch.ones(rows, t, dtype=torch.bool, device=inputs.device)
        kwargs.update(dict.fromkeys(spec.valid_masks, valid))
    if spec.padding_masks:
        padding = torch.zeros(rows, t, dtype=torch.bool, device=inputs.device)
        kwargs.update(dict.fromkeys(spec.padding_masks, padding))
    first: Any = inputs
    if spec.packed:
        first = nn.utils.rnn.pack_padded_sequence(inputs.transpose(1, 2), lengths, batch_first=True)
    return module(first, **kwargs)


def takes_lengths(model: Any) -> bool:
    """True when an adapted model's forward takes lengths, a mask or a packed sequence."""
    return bool(getattr(model, "sequence_inputs", SequenceInputs()))
