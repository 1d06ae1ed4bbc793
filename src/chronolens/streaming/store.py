"""The job's output: one Zarr group, chunked along cases, with a record of finished chunks.

Arrays: ``attributions (n, c_attr, t)``, ``scores (n, k)``, ``target (n,)``, and per chunk
``done`` (1 once the chunk's cases are written), ``seed`` (the chunk's seed) and ``run`` (which
run wrote it). A chunk's data is written before its ``done`` flag, so a job killed at any point
and started again recomputes only the chunks in flight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Attributes that must match for a job to resume into an existing store.
IDENTITY = ("method", "params", "n_cases", "chunk_size", "seed", "model_fingerprint", "shape")


def create_or_resume(
    out: str | Path,
    attrs: dict[str, Any],
    shapes: dict[str, tuple[tuple[int, ...], Any]],
    *,
    overwrite: bool = False,
) -> Any:
    """Open ``out`` for writing: a new group, or an existing one of the same job (resumed).

    Raises
    ------
    ValueError
        When ``out`` holds a different job (naming what differs) and ``overwrite`` is False.
    """
    import zarr

    path = Path(out)
    if path.exists() and not overwrite:
        group = zarr.open_group(str(path), mode="r+")
        differ = [k for k in IDENTITY if _plain(group.attrs.get(k)) != _plain(attrs.get(k))]
        if differ:
            raise ValueError(
                f"`out` {str(path)!r} holds another job (its {', '.join(differ)} differ); pass "
                "overwrite=True to replace it, or another `out`."
            )
        return group
    group = zarr.open_group(str(path), mode="w")
    chunk = int(attrs["chunk_size"])
    n_chunks = -(-int(attrs["n_cases"]) // chunk)
    for name, (shape, dtype) in shapes.items():
        group.create_array(name, shape=shape, chunks=(chunk, *shape[1:]), dtype=dtype, fill_value=0)
    for name, dtype in (("done", "uint8"), ("seed", "int64"), ("run", "int64")):
        group.create_array(name, shape=(n_chunks,), chunks=(1,), dtype=dtype, fill_value=0)
    group.attrs.update(attrs)
    return group


def _plain(value: Any) -> Any:
    """A JSON round trip's view of ``value`` (tuples as lists)."""
    import json

    return json.loads(json.dumps(value, default=str))


def write_chunk(
    group: Any, index: int, start: int, arrays: dict[str, np.ndarray], seed: int, run: int
) -> None:
    """Write one finished chunk, then mark it done."""
    stop = start + len(next(iter(arrays.values())))
    for name, values in arrays.items():
        group[name][start:stop] = values
    group["seed"][index] = seed
    group["run"][index] = run
    group["done"][index] = 1


def pending(group: Any) -> list[int]:
    """Indices of the chunks not yet recorded as done."""
    return [int(i) for i in np.flatnonzero(np.asarray(group["done"][:]) == 0)]
