"""What a Dask or Ray worker runs: source and store opened once, one chunk explained and written."""

from __future__ import annotations

from typing import Any

from chronolens.streaming._runner import ChunkTask

_OPEN: dict[tuple[str, ...], Any] = {}


def _cached(key: tuple[str, ...], make: Any) -> Any:
    if key not in _OPEN:
        _OPEN[key] = make()
    return _OPEN[key]


def run_chunk(task: ChunkTask, source: dict[str, Any], out: str, index: int, run: int) -> int:
    """Explain chunk ``index`` of ``source`` into the Zarr group at ``out``; return its cases."""
    import zarr

    from chronolens.streaming.sources import open_source
    from chronolens.streaming.store import write_chunk

    opened = _cached(
        ("source", str(source["path"]), source["layout"]),
        lambda: open_source(source["path"], layout=source["layout"], columns=source["columns"]),
    )
    group = _cached(("out", out), lambda: zarr.open_group(out, mode="r+"))
    chunk = int(group.attrs["chunk_size"])
    start = index * chunk
    x = opened.read(start, min(start + chunk, opened.shape[0]))
    arrays, seed = task.run(x, start)
    write_chunk(group, index, start, arrays, seed, run)
    return len(x)
