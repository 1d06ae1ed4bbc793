"""Where a dataset job reads its cases; nothing is ever unpickled.

Zarr, memory-mapped ``.npy``, ``.npy`` shards, Parquet, or any iterable of ``(c, t)`` /
``(b, c, t)`` arrays.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chronolens.series import Layout, as_series


@dataclass
class ArraySource:
    """Cases read by index range from an array-like of shape (n, c, t) or (n, t, c).

    Attributes
    ----------
    array : array-like
        Indexable by a slice of cases (a memory map, a Zarr array, a NumPy array).
    layout : {"ncl", "nlc"}
    name : str
        Where it came from, for messages.
    """

    array: Any
    layout: Layout = "ncl"
    name: str = "source"

    def __post_init__(self) -> None:
        if len(self.array.shape) != 3:
            raise ValueError(
                f"`source` {self.name} has shape {tuple(self.array.shape)}; a dataset job reads "
                "(n_cases, n_channels, n_timepoints) (or (n_cases, n_timepoints, n_channels) with "
                "layout='nlc')."
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_cases, n_channels, n_timepoints) in the chronolens layout."""
        n, a, b = (int(v) for v in self.array.shape)
        return (n, b, a) if self.layout == "nlc" else (n, a, b)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Cases ``start:stop`` as float32 (b, c, t).

        From a memory map the cases are copied and the mapping's pages let go, so the
        process's resident memory stays flat in the number of cases read.
        """
        block = self.array[start:stop]
        if isinstance(self.array, np.memmap):
            block = np.array(block)
            _release(self.array, start, stop)
        return as_series(np.asarray(block), self.layout, name="source")


def _release(array: np.memmap, start: int, stop: int) -> None:
    """Drop the resident pages of rows ``start:stop`` of a read-only memory map.

    The file stays in the page cache (a later read faults the pages back in); only this
    process's mapping lets them go, so its RSS does not grow with the cases read.
    """
    mapped = getattr(array, "_mmap", None)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if mapped is None or advice is None or array.mode != "r" or not hasattr(mapped, "madvise"):
        return
    row = int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize
    base = int(array.offset) % mmap.ALLOCATIONGRANULARITY  # where row 0 lies in the mapping
    lo = (base + start * row) // mmap.PAGESIZE * mmap.PAGESIZE
    hi = min(len(mapped), base + stop * row)
    if hi > lo:
        mapped.madvise(advice, lo, hi - lo)


class ShardSource:
    """A directory of ``.npy`` shards read in name order, each memory-mapped."""

    def __init__(self, directory: Path, layout: Layout = "ncl") -> None:
        files = sorted(directory.glob("*.npy"))
        if not files:
            raise ValueError(f"`source` {str(directory)!r} holds no .npy shards.")
        self.shards = [ArraySource(_open_npy(f), layout, str(f)) for f in files]
        shapes = {s.shape[1:] for s in self.shards}
        if len(shapes) != 1:
            raise ValueError(
                f"`source` {str(directory)!r}: the shards have different (channels, time) shapes "
                f"{sorted(shapes)}; every shard must hold series of one shape."
            )
        self.offsets = np.cumsum([0] + [s.shape[0] for s in self.shards])
        self.name = str(directory)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_cases, n_channels, n_timepoints) over all shards."""
        return (int(self.offsets[-1]), *self.shards[0].shape[1:])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Cases ``start:stop``, across shard boundaries."""
        parts = []
        for i, shard in enumerate(self.shards):
            lo, hi = max(start, self.offsets[i]), min(stop, self.offsets[i + 1])
            if lo < hi:
                parts.append(shard.read(int(lo - self.offsets[i]), int(hi - self.offsets[i])))
        return np.concatenate(parts) if parts else np.zeros((0, *self.shape[1:]), np.float32)


class ParquetSource:
    """Parquet with one list column per channel (a row per case), read by row groups."""

    def __init__(self, path: Path, columns: list[str] | None = None) -> None:
        import pyarrow.parquet as pq

        self.file = pq.ParquetFile(path)
        self.columns = columns or list(self.file.schema_arrow.names)
        meta = self.file.metadata
        self.offsets = np.cumsum(
            [0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        )
        first = self._group(0) if meta.num_row_groups else np.zeros((0, len(self.columns), 0))
        self._t = first.shape[2]
        self.name = str(path)

    def _group(self, index: int) -> np.ndarray:
        table = self.file.read_row_group(index, columns=self.columns)
        try:
            channels = [
                np.stack(table.column(c).to_numpy(zero_copy_only=False)) for c in self.columns
            ]
        except ValueError as error:
            raise ValueError(
                f"`source` {self.name!r}: every column must be a list of numbers of one length per "
                f"row (one column per channel): {error}."
            ) from None
        return np.ascontiguousarray(np.stack(channels, axis=1), dtype=np.float32)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_cases, n_channels, n_timepoints)."""
        return (int(self.offsets[-1]), len(self.columns), int(self._t))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Cases ``start:stop``, reading only the row groups they lie in."""
        parts = []
        for i in range(len(self.offsets) - 1):
            lo, hi = max(start, self.offsets[i]), min(stop, self.offsets[i + 1])
            if lo < hi:
                parts.append(self._group(i)[int(lo - self.offsets[i]) : int(hi - self.offsets[i])])
        return np.concatenate(parts)


class IterableSource:
    """Any iterable of (c, t) or (b, c, t) arrays, consumed once in order (local engine only)."""

    def __init__(self, items: Iterable[Any], layout: Layout = "ncl") -> None:
        self.items = items
        self.layout = layout
        self.name = "an iterable"
        self.shape: tuple[int, int, int] | None = None

    def batches(self, chunk_size: int) -> Iterator[np.ndarray]:
        """Re-cut the items into arrays of ``chunk_size`` cases (the last may be shorter)."""
        held: list[np.ndarray] = []
        count = 0
        for item in self.items:
            part = as_series(item, self.layout, name="source item")
            held.append(part)
            count += len(part)
            while count >= chunk_size:
                block = np.concatenate(held)
                yield block[:chunk_size]
                held, count = [block[chunk_size:]], count - chunk_size
        if count:
            yield np.concatenate(held)


def _open_npy(path: Path) -> np.ndarray:
    """Memory-map an ``.npy`` file; refuse one that holds Python objects (pickles)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise ValueError(
            f"`source` {str(path)!r} holds Python objects (a pickle), which chronolens never "
            f"loads: save it as a numeric array (np.save(path, x.astype('float32'))). ({error})"
        ) from None


def open_source(
    source: Any, *, layout: Layout = "ncl", columns: list[str] | None = None
) -> ArraySource | ShardSource | ParquetSource | IterableSource:
    """Open ``source`` for a dataset job.

    Parameters
    ----------
    source : str, path, array-like or iterable
        A ``.zarr`` array (or a group holding an array named ``x``), an ``.npy`` file (memory
        mapped), a directory of ``.npy`` shards, a ``.parquet`` file with one list column per
        channel, an in-memory array, or an iterable of (c, t) / (b, c, t) arrays.
    layout : {"ncl", "nlc"}, default="ncl"
    columns : list of str, optional
        Parquet columns to read as channels, in order (default: all).

    Raises
    ------
    FileNotFoundError, ValueError
        A missing path, an unknown format, a pickle-bearing ``.npy``, a wrong shape.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"`source`: no file or directory at {str(path)!r}.")
        if path.suffix == ".zarr" or (path / "zarr.json").exists() or (path / ".zarray").exists():
            import zarr

            opened = zarr.open(str(path), mode="r")
            if isinstance(opened, zarr.Group):
                if "x" not in opened:
                    raise ValueError(
                        f"`source` {str(path)!r} is a Zarr group without an array named 'x'; "
                        "pass the array's path (e.g. 'windows.zarr/x')."
                    )
                opened = opened["x"]
            return ArraySource(opened, layout, str(path))
        if path.suffix == ".npy":
            return ArraySource(_open_npy(path), layout, str(path))
        if path.suffix == ".parquet":
            return ParquetSource(path, columns)
        if path.is_dir():
            return ShardSource(path, layout)
        raise ValueError(
            f"`source` {str(path)!r}: use a .zarr array, an .npy file, a directory of .npy "
            "shards or a .parquet file."
        )
    if hasattr(source, "shape") and hasattr(source, "__getitem__"):
        return ArraySource(source, layout, "the array")
    if isinstance(source, Iterable):
        return IterableSource(source, layout)
    raise TypeError(
        f"`source` must be a path, an array or an iterable; got {type(source).__name__}."
    )
