"""The Ray engine: Ray Data ``map_batches`` over the pending chunk indices with an actor pool.

Each actor loads the model file once, explains the chunks it is handed and writes each into the
Zarr store as soon as it is done; order is preserved (``preserve_order``) so the rows Ray Data
hands back line up with the chunks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from chronolens._progress import Progress
from chronolens.streaming._device import ray_placement
from chronolens.streaming._remote import run_chunk
from chronolens.streaming._runner import ChunkTask
from chronolens.streaming.store import pending


class _Explainer:
    """A Ray actor: holds the model (loaded on first use) and explains chunks."""

    def __init__(self, task: ChunkTask, source: dict[str, Any], out: str, run: int) -> None:
        self.task, self.source, self.out, self.run = task, source, out, run
        self.task.loaded()  # the model, once per actor

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        indices = batch["chunk"]
        cases = [run_chunk(self.task, self.source, self.out, int(i), self.run) for i in indices]
        return {"chunk": indices, "cases": np.asarray(cases)}


def run_ray(
    task: ChunkTask,
    source: dict[str, Any],
    out: str,
    group: Any,
    run: int,
    bar: Progress,
    *,
    n_workers: int = 2,
) -> None:
    """Run the pending chunks on the Ray cluster (a local one if none is running).

    Actors get one GPU each where the cluster has GPUs and ``task.device`` allows it
    (:func:`chronolens.streaming._device.ray_placement`).
    """
    try:
        import ray
        import ray.data
    except ImportError:
        raise ImportError("engine='ray' needs ray[data]: pip install 'chronolens[ray]'.") from None
    if not ray.is_initialized():
        ray.init(num_cpus=n_workers, include_dashboard=False, log_to_driver=False)
    todo = pending(group)
    if not todo:
        return
    gpus = float(ray.cluster_resources().get("GPU", 0))
    device, num_gpus, n_actors = ray_placement(task.device, gpus, n_workers)
    task = dataclasses.replace(task, device=device)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    data = ray.data.from_items([{"chunk": i} for i in todo], override_num_blocks=len(todo))
    results = data.map_batches(
        _Explainer,
        fn_constructor_args=(task, source, out, run),
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=n_actors),
        num_cpus=1,
        num_gpus=num_gpus,
    )
    for batch in results.iter_batches(batch_size=1):
        bar.advance(int(np.sum(batch["cases"])))
