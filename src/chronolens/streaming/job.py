"""``explain_dataset()`` and the job it returns: a resumable, chunked explanation on disk."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from chronolens._progress import Progress
from chronolens._validation import check_batch_size, check_choice, check_int, resolve_seed
from chronolens._version import __version__
from chronolens.registry import get_method
from chronolens.series import LAYOUTS, Layout
from chronolens.streaming._device import check_device
from chronolens.streaming._runner import ChunkTask, export_module, fingerprint
from chronolens.streaming.sources import IterableSource, open_source
from chronolens.streaming.store import create_or_resume, pending

ENGINES = ("local", "dask", "ray")


class DatasetJob:
    """An explanation of a whole dataset, stored in a Zarr group chunked along cases.

    Attributes
    ----------
    out : pathlib.Path
        The Zarr group.
    source : object or None
        The opened source (for :meth:`explanation`'s ``x``), when known.
    """

    def __init__(self, out: str | os.PathLike[str], source: Any = None) -> None:
        import zarr

        self.out = Path(out)
        if not self.out.exists():
            raise FileNotFoundError(f"`out`: no job output at {str(self.out)!r}.")
        self.group: Any = zarr.open_group(str(self.out), mode="r")
        self.source = source

    @property
    def attrs(self) -> dict[str, Any]:
        """Method, parameters, model fingerprint, chronolens version, chunking, seed."""
        return dict(self.group.attrs)

    @property
    def complete(self) -> bool:
        """True once every chunk is written."""
        return not pending(self.group)

    def explanation(self, cases: slice | None = None) -> Any:
        """An :class:`~chronolens.Explanation` of ``cases`` (a slice), read from the store."""
        from chronolens.explanation import Explanation

        cases = cases or slice(0, None)
        attributions = np.asarray(self.group["attributions"][cases])
        if self.source is not None and not isinstance(self.source, IterableSource):
            start, stop, _ = cases.indices(self.attrs["n_cases"])
            x = self.source.read(start, stop)
        else:
            x = np.zeros((len(attributions), *self.attrs["shape"][1:]), np.float32)
        attrs = self.attrs
        return Explanation(
            x=x,
            attributions=attributions,
            target=np.asarray(self.group["target"][cases]),
            scores=np.asarray(self.group["scores"][cases]),
            method=attrs["method"],
            params=dict(attrs["params"]),
            per_channel=attributions.shape[1] == x.shape[1] and attrs["per_channel"],
            layout=attrs["layout"],
        )

    def summary(self, **kwargs: Any) -> Any:
        """Dataset-level views; see :func:`chronolens.streaming.summaries.summarize`."""
        from chronolens.streaming.summaries import summarize

        return summarize(self.group, **kwargs)

    def __repr__(self) -> str:
        a = self.attrs
        state = "complete" if self.complete else f"{len(pending(self.group))} chunks pending"
        return f"DatasetJob({a['method']!r}, {a['n_cases']} cases, {str(self.out)!r}, {state})"


def _probe(task: ChunkTask, source: Any, chunk: int) -> tuple[dict[str, Any], Any]:
    """Explain the first case to learn the output shapes (and to fail early on bad input)."""
    first = source.read(0, 1) if not isinstance(source, IterableSource) else None
    if first is None:
        raise ValueError("internal: an iterable source is probed from its first block")
    here = dataclasses.replace(task, device=None)  # the caller's machine may have no GPU
    arrays, _ = here.run(first, 0)
    return {k: ((0, *v.shape[1:]), v.dtype) for k, v in arrays.items()}, first


def explain_dataset(
    model: Any,
    source: Any,
    *,
    method: str,
    out: str | os.PathLike[str],
    engine: str = "local",
    target: Any = None,
    layer: Any = None,
    layout: Layout = "ncl",
    chunk_size: int = 1024,
    batch_size: int | str = "auto",
    seed: int | None = None,
    progress: bool | None = None,
    overwrite: bool = False,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    device: str | None = None,
    columns: list[str] | None = None,
    **params: Any,
) -> DatasetJob:
    """Explain every case of a dataset on disk into a Zarr group, in bounded memory.

    Parameters
    ----------
    model : path or torch.nn.Module or keras.Model
        A model file (``.pt2``, TorchScript ``.pt``, ``.keras``), loaded with
        :func:`chronolens.files.load_model` by every worker, or an in-memory model (engine
        "local"; a torch module is exported to a temporary ``.pt2`` for "dask" and "ray").
    source : path, array or iterable
        See :func:`chronolens.streaming.sources.open_source`.
    method : str
        A registered method.
    out : path
        The Zarr group written (and resumed when it holds the same job).
    engine : {"local", "dask", "ray"}, default="local"
    target, layer, batch_size, params
        As in :func:`chronolens.explain`; ``target`` is None, an int or one class per case.
    layout : {"ncl", "nlc"}, default="ncl"
    chunk_size : int, default=1024
        Cases per chunk (per task, per Zarr chunk, per resumable unit).
    seed : int, optional
        Job seed of randomized methods (drawn and recorded when None). Chunk ``k`` is explained
        with seed ``chunk_seed(seed, k * chunk_size)``, recorded in the store's ``seed`` array:
        its cases equal ``explain()`` on that chunk with that seed, bit for bit, on every engine.
        Deterministic methods equal ``explain()`` on any set of cases, whatever the chunking.
    progress : bool or None
        A bar with cases per second and time left (None: after 2 seconds).
    overwrite : bool, default=False
        Replace an ``out`` that holds a different job.
    client, scheduler : optional
        Engine "dask": a ``distributed.Client``, or a scheduler address; default a
        ``LocalCluster`` of ``n_workers`` processes with ``threads_per_worker`` torch threads.
    device : {"cpu", "cuda", "cuda:N"}, optional
        Engines "dask" and "ray": where each worker runs the model it loads (batches follow
        the model). Default: the CPU, except on a Ray cluster with GPUs, which gets one GPU per
        actor (at most one actor per GPU). Engine "local" runs the model where it is.
    columns : list of str, optional
        Parquet columns read as channels.

    Returns
    -------
    DatasetJob
    """
    check_choice(engine, "engine", ENGINES)
    device = check_device(device, engine)
    check_choice(layout, "layout", LAYOUTS)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    batch_size = check_batch_size(batch_size)
    if callable(target):
        raise TypeError(
            "`target`: a dataset job takes None, an int or one class per case, not a callable "
            "(it would have to be pickled to reach workers)."
        )
    spec = get_method(method)
    opened = open_source(source, layout=layout, columns=columns)
    if isinstance(opened, IterableSource):
        if engine != "local":
            raise ValueError(
                f"`source`: engine={engine!r} reads chunks by index, so it needs a file source "
                "(.zarr, .npy, a directory of .npy shards, .parquet); iterables run on "
                "engine='local'."
            )
        return _iterable_job(
            model,
            opened,
            method,
            out,
            target,
            layer,
            chunk_size,
            batch_size,
            seed,
            progress,
            overwrite,
            params,
        )
    n, c, t = opened.shape
    if n == 0:
        raise ValueError(f"`source` {opened.name} holds no cases.")
    remote = engine != "local"
    if remote and not isinstance(model, (str, os.PathLike)):
        model = export_module(model, c, t)
    if remote and not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"`source`: engine={engine!r} sends workers the source's path; save the array "
            "(np.save('x.npy', x) or to Zarr) and pass the path, or use engine='local'."
        )
    task = ChunkTask(
        model,
        spec.name,
        dict(params),
        target,
        layer,
        batch_size,
        _job_seed(out, seed) if spec.randomized or spec.wraps else None,
        threads_per_worker if remote else None,
        device,
    )
    group, bar, run = _open_store(task, opened, out, chunk_size, overwrite, spec, layout, progress)
    where = {"path": str(source), "layout": layout, "columns": columns}
    try:
        _dispatch(
            engine, task, opened, where, str(out), group, run, bar, client, scheduler, n_workers
        )
    finally:
        bar.close()
    return DatasetJob(out, opened)


def _job_seed(out: Any, seed: int | None) -> int:
    """The job seed: given, recorded in an existing ``out`` (a resumed job), or drawn."""
    if seed is None and (Path(out) / "zarr.json").exists():
        import zarr

        recorded = zarr.open_group(str(out), mode="r").attrs.get("seed")
        if recorded is not None:
            return int(recorded)  # type: ignore[arg-type]
    return resolve_seed(seed)


def _dispatch(
    engine: str,
    task: ChunkTask,
    opened: Any,
    where: dict[str, Any],
    out: str,
    group: Any,
    run: int,
    bar: Progress,
    client: Any,
    scheduler: str | None,
    n_workers: int,
) -> None:
    """Run the pending chunks on ``engine``."""
    if engine == "local":
        from chronolens.streaming.local import run_local

        run_local(task, opened, group, run, bar)
    elif engine == "dask":
        from chronolens.streaming.dask_engine import run_dask

        run_dask(
            task,
            where,
            out,
            group,
            run,
            bar,
            client=client,
            scheduler=scheduler,
            n_workers=n_workers,
        )
    else:
        from chronolens.streaming.ray_engine import run_ray

        run_ray(task, where, out, group, run, bar, n_workers=n_workers)


def _open_store(
    task: ChunkTask,
    opened: Any,
    out: Any,
    chunk_size: int,
    overwrite: bool,
    spec: Any,
    layout: str,
    progress: bool | None,
) -> tuple[Any, Progress, int]:
    """Create or resume the store; a bar started over the cases still to do."""
    n, c, t = opened.shape
    shapes, _ = _probe(task, opened, chunk_size)
    shapes = {k: ((n, *s[1:]), d) for k, (s, d) in shapes.items()}
    attrs = {
        "method": spec.name,
        "params": {
            k: v
            for k, v in task.params.items()
            if isinstance(v, (int, float, str, bool, type(None)))
        },
        "n_cases": n,
        "shape": [n, c, t],
        "chunk_size": chunk_size,
        "seed": task.seed,
        "model_fingerprint": fingerprint(task.model),
        "chronolens_version": __version__,
        "layout": layout,
        "per_channel": bool(spec.per_channel),
        "layer": None if task.layer is None else str(task.layer),
    }
    group = create_or_resume(out, attrs, shapes, overwrite=overwrite)
    run = int(np.asarray(group["run"][:]).max(initial=0)) + 1
    todo = pending(group)
    bar = Progress(progress, description=spec.name, unit="case")
    bar.start(sum(min(chunk_size, n - i * chunk_size) for i in todo))
    return group, bar, run


def _iterable_job(
    model: Any,
    opened: IterableSource,
    method: str,
    out: Any,
    target: Any,
    layer: Any,
    chunk_size: int,
    batch_size: Any,
    seed: Any,
    progress: Any,
    overwrite: bool,
    params: dict[str, Any],
) -> DatasetJob:
    """An iterable source: buffered to an ``.npy`` beside ``out`` chunk by chunk, then explained."""
    spool = Path(str(out) + ".source.npy")
    if not spool.exists() or overwrite:
        blocks = opened.batches(chunk_size)
        first = next(blocks, None)
        if first is None:
            raise ValueError("`source`: the iterable yielded no cases.")
        _spool([first], blocks, spool)
    return explain_dataset(
        model,
        spool,
        method=method,
        out=out,
        target=target,
        layer=layer,
        chunk_size=chunk_size,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        overwrite=overwrite,
        **params,
    )


def _spool(head: list[np.ndarray], blocks: Any, path: Path) -> None:
    """Write blocks to an ``.npy`` without holding them all (two passes: raw, then header)."""
    raw = path.with_suffix(".raw")
    count, shape = 0, head[0].shape[1:]
    with open(raw, "wb") as handle:
        for block in [*head, *blocks]:
            if block.shape[1:] != shape:
                raise ValueError(
                    f"`source`: an item of shape {block.shape[1:]} after items of shape {shape}; "
                    "every series must have one shape."
                )
            handle.write(np.ascontiguousarray(block, np.float32).tobytes())
            count += len(block)
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(count, *shape))
    source = np.memmap(raw, dtype=np.float32, mode="r", shape=(count, *shape))
    for i in range(0, count, 4096):
        mapped[i : i + 4096] = source[i : i + 4096]
    mapped.flush()
    del mapped, source
    raw.unlink()
