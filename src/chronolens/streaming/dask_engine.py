"""The Dask engine: one delayed task per pending chunk on a ``distributed`` cluster.

Each task runs on a worker that loads the model file once (``torch`` threads set per worker),
reads its chunk from the source and writes it into the Zarr store, region by region.
"""

from __future__ import annotations

from typing import Any

from chronolens._progress import Progress
from chronolens.streaming._remote import run_chunk
from chronolens.streaming._runner import ChunkTask
from chronolens.streaming.store import pending


def run_dask(
    task: ChunkTask,
    source: dict[str, Any],
    out: str,
    group: Any,
    run: int,
    bar: Progress,
    *,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int = 2,
) -> None:
    """Run the pending chunks on ``client`` (or a new ``LocalCluster``); advance ``bar``."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImportError(
            "engine='dask' needs dask[distributed]: pip install 'chronolens[dask]'."
        ) from None
    owned = []
    if client is None:
        if scheduler is not None:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
            owned.append(cluster)
        owned.insert(0, client)
    try:
        futures = [
            client.submit(
                run_chunk, task, source, out, index, run, pure=False, key=f"chunk-{run}-{index}"
            )
            for index in pending(group)
        ]
        for future in as_completed(futures):
            bar.advance(int(future.result()))
    finally:
        for item in owned:
            item.close()
