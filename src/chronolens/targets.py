"""Which scalar of the model output an explanation explains, for every case."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch

TargetLike = Union[  # noqa: UP007 - a runtime alias, evaluated on Python 3.10 too
    None, int, Sequence[int], np.ndarray, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]
]


@dataclass(frozen=True)
class Target:
    """A resolved target.

    Either ``indices`` (one class index per row) or ``fn`` (a callable mapping the model output of
    a batch to one score per row) is set. Methods pass it to the model adapter, which calls
    :meth:`select` on the raw output of each batch.
    """

    indices: torch.Tensor | None = None
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    predicted: bool = False

    def select(self, output: torch.Tensor) -> torch.Tensor:
        """Return the explained score of every row of ``output``, shape ``(rows,)``.

        A ``predicted`` target explains each row's own top class; it is only used by methods
        whose model calls are on the unperturbed cases themselves (``MethodSpec.calls_at_input``),
        which return the model output in ``MethodResult.output``.
        """
        if self.predicted:
            index = output.detach().argmax(dim=1)
            return output.gather(1, index[:, None])[:, 0]
        if self.fn is not None:
            values = self.fn(output)
            if not isinstance(values, torch.Tensor):
                values = torch.as_tensor(values)
            rows = output.shape[0] if isinstance(output, torch.Tensor) else len(values)
            if values.shape != (rows,):
                raise ValueError(
                    "A callable `target` must return one score per case, a tensor of shape "
                    f"({rows},); it returned shape {tuple(values.shape)}. Reduce the "
                    "output of each case to a scalar, e.g. `lambda out: out[:, :, 2].mean(1)`."
                )
            return values
        assert self.indices is not None
        index = self.indices.to(output.device)
        return output.gather(1, index[:, None])[:, 0]

    def take(self, rows: torch.Tensor | slice) -> Target:
        """Return the target of a subset of rows (or of rows repeated per case)."""
        if self.indices is None:
            return self
        return Target(indices=self.indices[rows])

    def as_array(self) -> np.ndarray | None:
        """Class indices as an int64 NumPy array, or None for a callable target."""
        return None if self.indices is None else self.indices.cpu().numpy().astype(np.int64)


def _check_output_is_scores(output: Any) -> torch.Tensor:
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"The model returned {type(output).__name__}, not a tensor of class scores. Wrap the "
            "model so that forward() returns a tensor, e.g. `lambda x: model(x).logits`."
        )
    if output.ndim != 2:
        raise ValueError(
            f"The model output has shape {tuple(output.shape)}, not (n_cases, n_classes) class "
            "scores, so the class to explain is not defined. Pass a callable `target` that maps "
            "the output to one score per case, e.g. `target=lambda out: out[:, -1, 0]`."
        )
    return output


def resolve_target(target: TargetLike, output: torch.Tensor, n_cases: int | None = None) -> Target:
    """Resolve a user ``target`` against the model ``output`` for all cases.

    Parameters
    ----------
    target : None, int, sequence of int, or callable
        None explains the predicted class (argmax of the scores); an int explains that class for
        every case; a sequence gives one class per case; a callable maps the model output of a
        batch, shape (rows, ...), to one score per row, shape (rows,), for outputs that are not
        class scores (regression, per-timestep heads, a single sigmoid).
    output : torch.Tensor
        The model output for all cases, or for the first case when ``n_cases`` is given (then
        None resolves to a ``predicted`` target, chosen later from each case's own output).
    n_cases : int, optional
        Number of cases, when ``output`` holds only the first.

    Returns
    -------
    Target

    Raises
    ------
    ValueError, TypeError
        If the target does not fit the output (out of range, wrong length, not integers).
    """
    n = output.shape[0] if isinstance(output, torch.Tensor) else None
    if callable(target) and not isinstance(target, (torch.Tensor, np.ndarray)):
        resolved = Target(fn=target)
        if isinstance(output, torch.Tensor):
            resolved.select(output)  # validates the shape it returns
        return resolved
    scores = _check_output_is_scores(output)
    n, k = scores.shape
    if n_cases is not None:
        n = n_cases
        if target is None:
            return Target(predicted=True)
    if target is None:
        return Target(indices=scores.argmax(dim=1).cpu())
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        indices = torch.full((n,), int(target), dtype=torch.long)
    else:
        array = np.asarray(target.cpu() if isinstance(target, torch.Tensor) else target)
        if array.ndim == 0:
            return resolve_target(array.item(), output, n_cases)
        if array.dtype.kind not in "iu":
            if array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0):
                array = array.astype(np.int64)
            else:
                raise TypeError(
                    "`target` must be None, an int, one int per case, or a callable; got an "
                    f"array of dtype {array.dtype}."
                )
        if array.shape != (n,):
            raise ValueError(
                f"`target` gives {array.size} classes for {n} cases (shape {array.shape}); pass "
                "one int per case, a single int for all cases, or None for the predicted class."
            )
        indices = torch.as_tensor(array.astype(np.int64))
    bad = (indices < 0) | (indices >= k)
    if bool(bad.any()):
        first = int(indices[bad][0])
        raise ValueError(
            f"`target` {first} is out of range: the model outputs {k} class scores, so targets "
            f"must be in 0..{k - 1}."
        )
    return Target(indices=indices)
