"""The local engine: the pending chunks explained one after the other in this process."""

from __future__ import annotations

from typing import Any

from chronolens._progress import Progress
from chronolens.streaming._runner import ChunkTask
from chronolens.streaming.store import pending, write_chunk


def run_local(task: ChunkTask, source: Any, group: Any, run: int, bar: Progress) -> None:
    """Explain every chunk not yet done, writing each as soon as it is finished."""
    chunk = int(group.attrs["chunk_size"])
    todo = set(pending(group))
    model = task.loaded()
    n = source.shape[0]
    for index in sorted(todo):
        start = index * chunk
        x = source.read(start, min(start + chunk, n))
        arrays, seed = task.run(x, start, model)
        write_chunk(group, index, start, arrays, seed, run)
        bar.advance(len(x))
