"""Random references that remove what the map removes, in the same shape.

A removal metric compares the map's curve with the curve of a random order. Scattered random
points are the right reference only for a map that ranks single points: a map built of blocks
(segments, windows, a map constant per channel) removes contiguous runs, and on a smooth or
periodic series removing runs hurts the model differently from removing scattered points
(subsampling). The matched reference ranks the map's own blocks, the runs of equal values
along time, in a random order: it removes contiguous runs of exactly the map's block sizes (a
block is removed in time order, as ties are), whole channels for a map constant per channel.

The block draw of a run is the point draw at the run's first point, so a map without runs
(every value differs from its time neighbours) gets exactly the point reference, and a map
with a few ties gets it except at the ties. The shape's name (:func:`reference_kind`) says
which kind of map it is, for reports; the block reference is the matched one in every case.
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


def has_runs(values: np.ndarray) -> bool:
    """True when two time neighbours of some row are equal (the block draw then differs)."""
    return values.shape[-1] > 1 and not np.all(run_starts(values) == np.arange(values.shape[-1]))


def reference_kind(values: np.ndarray) -> str:
    """``"point"``, ``"block"`` or ``"channel"``: the shape of maps ``(n, rows, features)``.

    ``"channel"``: every row (of several) is one run; ``"point"``: at least half of the
    features have no equal time neighbour (a few ties do not make a segment map);
    ``"block"``: most features sit in runs of equal values along time.
    """
    t = values.shape[-1]
    starts = run_starts(values)
    if t > 1 and values.shape[-2] > 1 and np.all(starts == 0):
        return "channel"
    owner = (starts + t * np.arange(starts.size // t).reshape(starts.shape[:-1])[..., None]).ravel()
    _, inverse, counts = np.unique(owner, return_inverse=True, return_counts=True)
    return "point" if np.mean(counts[inverse] == 1) >= 0.5 else "block"


def block_draw(draw: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The point draw made constant on the runs of ``values``: each run takes its first draw."""
    return np.take_along_axis(draw, run_starts(values), axis=-1)


def merge_kinds(kinds: list[str]) -> str:
    """One name for several groups of cases: theirs if they agree, else ``"block"``."""
    return kinds[0] if len(set(kinds)) == 1 else "block"
