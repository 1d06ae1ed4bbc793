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


def binary_kind(output: Any) -> str | None:
    """``"logit"`` or ``"probability"`` for a single-column output (a binary head), else None.

    A column whose values all lie in [0, 1] is read as sigmoid probabilities; any other as logits.
    """
    if not isinstance(output, torch.Tensor) or output.ndim != 2 or output.shape[1] != 1:
        return None
    values = output.detach()
    return "probability" if bool(((values >= 0) & (values <= 1)).all()) else "logit"


def predicted_classes(output: torch.Tensor, binary: str | None = None) -> torch.Tensor:
    """Each row's predicted class: the argmax, or for a binary head logit > 0 (probability > .5)."""
    values = output.detach()
    if binary is None:
        return values.argmax(dim=1)
    return (values[:, 0] > (0.5 if binary == "probability" else 0.0)).long()


@dataclass(frozen=True)
class Target:
    """A resolved target.

    Either ``indices`` (one class index per row) or ``fn`` (a callable mapping the model output of
    a batch to one score per row) is set. Methods pass it to the model adapter, which calls
    :meth:`select` on the raw output of each batch.

    ``binary`` is set for single-column outputs (a sigmoid head): class 1 is explained through
    the column itself, class 0 through its complement (``-logit``, or ``1 - probability``).
    """

    indices: torch.Tensor | None = None
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    predicted: bool = False
    binary: str | None = None

    def select(self, output: torch.Tensor) -> torch.Tensor:
        """Return the explained score of every row of ``output``, shape ``(rows,)``.

        A ``predicted`` target explains each row's own top class; it is only used by methods
        whose model calls are on the unperturbed cases themselves (``MethodSpec.calls_at_input``),
        which return the model output in ``MethodResult.output``.
        """
        if self.predicted:
            return self._pick(output, predicted_classes(output, self.binary))
        if self.fn is not None:
            return self._call(output)
        assert self.indices is not None
        return self._pick(output, self.indices.to(output.device))

    def _pick(self, output: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        if self.binary is None:
            return output.gather(1, index[:, None])[:, 0]
        column = output[:, 0]
        other = 1 - column if self.binary == "probability" else -column
        return torch.where(index == 1, column, other)

    def _call(self, output: Any) -> torch.Tensor:
        assert self.fn is not None
        values = self.fn(output)
        if not isinstance(values, torch.Tensor):
            try:
                values = torch.as_tensor(np.asarray(values, dtype=np.float32))
            except (TypeError, ValueError):
                raise TypeError(
                    "A callable `target` must return one score per case (a tensor); it returned "
                    f"{type(values).__name__}."
                ) from None
            if isinstance(output, torch.Tensor) and output.requires_grad:
                raise TypeError(
                    "A callable `target` returned a NumPy array, which carries no gradient. "
                    "Compute the score with torch operations on the output, e.g. "
                    "`target=lambda out: out[:, 1] - out[:, 0]`."
                )
        rows = output.shape[0] if isinstance(output, torch.Tensor) else len(values)
        if values.shape != (rows,):
            raise ValueError(
                "A callable `target` must return one score per case, a tensor of shape "
                f"({rows},); it returned shape {tuple(values.shape)}. Reduce the "
                "output of each case to a scalar, e.g. `lambda out: out[:, :, 2].mean(1)`."
            )
        return values

    def take(self, rows: torch.Tensor | slice) -> Target:
        """Return the target of a subset of rows (or of rows repeated per case)."""
        if self.indices is None:
            return self
        return Target(indices=self.indices[rows], binary=self.binary)

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
    if callable(target) and not isinstance(target, (torch.Tensor, np.ndarray)):
        resolved = Target(fn=target)
        if isinstance(output, torch.Tensor):
            resolved.select(output)  # validates the shape it returns
        return resolved
    scores = _check_output_is_scores(output)
    n, k = scores.shape
    binary = binary_kind(scores)
    k = 2 if binary else k
    if n_cases is not None:
        n = n_cases
        if target is None:
            return Target(predicted=True, binary=binary)
    if target is None:
        return Target(indices=predicted_classes(scores, binary).cpu(), binary=binary)
    indices = _class_indices(target, n, k)
    return Target(indices=indices, binary=binary)


def _scalar_class(value: Any, k: int) -> int:
    """One class index from a scalar, with a clear error for anything that is not one."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"`target` must be a class index (int); got {value!r}, a bool. Pass e.g. target=1."
        )
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"`target` must be a class index (int); got the string {value!r}. Pass e.g. "
            f"target={value.strip() if isinstance(value, str) and value.strip().isdigit() else 1}."
        )
    if isinstance(value, numbers.Integral):
        index = int(value)
    elif isinstance(value, numbers.Real):
        number = float(value)
        if not np.isfinite(number) or number != int(number):
            raise ValueError(f"`target` must be a whole class index in 0..{k - 1}; got {value!r}.")
        index = int(number)
    else:
        raise TypeError(
            "`target` must be None, an int, one int per case, or a callable; got "
            f"{type(value).__name__}."
        )
    return _check_range(np.array([index], dtype=object), k)[0]


def _check_range(values: np.ndarray, k: int) -> list[int]:
    bad = [int(v) for v in values.tolist() if not 0 <= int(v) < k]
    if bad:
        raise ValueError(
            f"`target` {bad[0]} is out of range: the model outputs {k} class scores, so targets "
            f"must be in 0..{k - 1}."
        )
    return [int(v) for v in values.tolist()]


def _class_indices(target: TargetLike, n: int, k: int) -> torch.Tensor:
    """One class index per case from an int or a sequence of them, checked against ``k``."""
    if isinstance(target, torch.Tensor):
        target = target.detach().cpu().numpy()
    if np.ndim(target) == 0:  # type: ignore[arg-type]  # a callable was handled before
        value = target.item() if isinstance(target, np.ndarray) else target
        return torch.full((n,), _scalar_class(value, k), dtype=torch.long)
    try:
        array = np.asarray(target)
    except (TypeError, ValueError):
        raise TypeError(
            "`target` must be None, an int, one int per case, or a callable; got a ragged sequence."
        ) from None
    if array.dtype.kind == "b" or array.dtype.kind not in "iuf":
        raise TypeError(
            "`target` must be None, an int, one int per case, or a callable; got an array of "
            f"dtype {array.dtype}."
        )
    if array.dtype.kind == "f" and not (np.isfinite(array).all() and np.all(np.mod(array, 1) == 0)):
        raise TypeError(
            f"`target` must hold whole class indices; got an array of dtype {array.dtype} with "
            "values that are not whole numbers."
        )
    if array.shape != (n,):
        raise ValueError(
            f"`target` gives {array.size} classes for {n} cases (shape {array.shape}); pass "
            "one int per case, a single int for all cases, or None for the predicted class."
        )
    return torch.as_tensor(_check_range(array.astype(object), k), dtype=torch.long)
