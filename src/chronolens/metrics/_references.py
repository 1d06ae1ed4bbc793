"""Random references that remove what the map removes, in the same shape.

A removal metric compares the map's curve with the curve of a random order. Scattered random
points are the right reference only for a map that ranks single points: a map built of blocks
(segments, windows, a map constant per channel) removes contiguous runs, and on a smooth or
periodic series removing runs hurts the model differently from removing scattered points
(subsampling). The matched reference ranks the map's own blocks, the runs of equal values
along time, in a random order: it removes contiguous runs of exactly the map's block sizes (a
block is removed in time order, as ties are), whole channels for a map constant per channel.

The block draw of a run is the point draw at the run's first point, so a map without runs
(every value differs from its time neighbours) gets exactly the point reference.
"""

from __future__ import annotations

import numpy as np

#: The shapes a map can have, as :func:`reference_kind` names them.
KINDS: tuple[str, ...] = ("point", "block", "channel")


def run_starts(values: np.ndarray) -> np.ndarray:
    """Index of the first point of the run of equal values each point belongs to (last axis)."""
    t = values.shape[-1]
    new = np.ones(values.shape, dtype=bool)
    new[..., 1:] = values[..., 1:] != values[..., :-1]
    index = np.broadcast_to(np.arange(t), values.shape)
    return np.maximum.accumulate(np.where(new, index, 0), axis=-1)


def reference_kind(values: np.ndarray) -> str:
    """``"point"``, ``"block"`` or ``"channel"``: the shape of maps ``(n, rows, features)``.

    ``"point"``: no two time neighbours are equal; ``"channel"``: every row (of several) is one
    run; ``"block"``: anything else (some runs of equal values along time).
    """
    starts = run_starts(values)
    if values.shape[-1] == 1 or np.all(starts == np.arange(values.shape[-1])):
        return "point"
    if values.shape[-2] > 1 and np.all(starts == 0):
        return "channel"
    return "block"


def block_draw(draw: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The point draw made constant on the runs of ``values``: each run takes its first draw."""
    return np.take_along_axis(draw, run_starts(values), axis=-1)


def merge_kinds(kinds: list[str]) -> str:
    """One name for several groups of cases: theirs if they agree, else ``"block"``."""
    return kinds[0] if len(set(kinds)) == 1 else "block"
