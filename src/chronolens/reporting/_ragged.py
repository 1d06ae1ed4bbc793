"""Unequal-length data in the report: what is explained, drawn and re-run on which cases.

The report pads a list of ``(c, t_i)`` series at the end like :func:`chronolens.explain` does
(the padding is drawn as absent, never as series or evidence). The sections that re-run the
model on a few cases (the sanity check, the prototypes) need one length: they use the cases of
one length, and their notes say which.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chronolens._lengths import is_ragged, pad_series, valid_mask
from chronolens.explanation import Explanation
from chronolens.series import Layout, as_series


def prepare(x: Any, layout: Layout, pad_value: float | None) -> tuple[Any, np.ndarray]:
    """``(what explain() is given, the padded (n, c, t) series)``.

    Equal-length data is converted once; a ragged list is passed on as it is (explain pads it
    and records the lengths) and padded here with the same value for the shape checks.
    """
    if is_ragged(x):
        fill = 0.0 if pad_value is None else float(pad_value)
        padded, _ = pad_series(x, layout, pad_value=fill)
        return list(x), padded
    if pad_value is not None:
        raise ValueError(
            "`pad_value` is for unequal-length data (a list of series of different lengths); "
            "this data has one length. Drop `pad_value`."
        )
    series = as_series(x, layout)
    return series, series


def blank_padding(values: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """``values`` (n, rows, t) as float64 with NaN past each case's length."""
    values = np.asarray(values, dtype=np.float64)
    if lengths is None:
        return values
    valid = valid_mask(np.asarray(lengths), values.shape[2])[:, None, :]
    return np.where(valid, values, np.nan)


def one_length(exp: Explanation, cases: np.ndarray) -> tuple[np.ndarray, int | None]:
    """The cases among ``cases`` that share the most common length, and that length.

    Returns ``(indices, length)``; ``length`` is None for equal-length data (all of ``cases``).
    """
    cases = np.asarray(cases, dtype=np.int64)
    if exp.lengths is None or cases.size == 0:
        return cases, None
    lengths = np.asarray(exp.lengths)[cases]
    values, counts = np.unique(lengths, return_counts=True)
    length = int(values[np.argmax(counts)])
    return cases[lengths == length], length


def cut(x: np.ndarray, length: int | None) -> np.ndarray:
    """``x`` (n, c, t) cut to ``length`` points (all of it when None)."""
    return x if length is None else x[:, :, :length]
