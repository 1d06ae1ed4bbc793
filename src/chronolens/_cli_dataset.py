"""``chronolens explain`` on a whole dataset (:func:`chronolens.explain_dataset`).

A Zarr, ``.npy``-shard or Parquet source, or an ``--out`` ending in ``.zarr``, runs the job on
the chosen engine.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: How the job's parameter names read on the command line.
_FLAGS = {
    "`source`": "DATA",
    "`out`": "--out",
    "`engine`": "--engine",
    "`chunk_size`": "--chunk-size",
    "`device`": "--device",
    "`target`": "--target",
    "`model`": "MODEL",
    "overwrite=True": "--overwrite",
    "engine='local'": "--engine local",
}


def is_dataset_job(args: argparse.Namespace) -> bool:
    """True when DATA is a dataset store (.zarr, .parquet, a directory) or --out ends in .zarr."""
    data = Path(args.data)
    return (
        Path(args.out).suffix.lower() == ".zarr"
        or data.suffix.lower() in (".zarr", ".parquet")
        or data.is_dir()
    )


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of a dataset job."""
    group = parser.add_argument_group(
        "whole datasets (DATA .zarr/.parquet/.npy folder, --out .zarr)"
    )
    group.add_argument(
        "--engine", default="local", choices=["local", "dask", "ray"], help="default local"
    )
    group.add_argument("--scheduler", help="a Dask scheduler address, e.g. tcp://10.0.0.1:8786")
    group.add_argument("--workers", type=int, default=2, help="local cluster workers (default 2)")
    group.add_argument("--chunk-size", type=int, default=1024, help="cases per chunk (1024)")
    group.add_argument(
        "--device",
        help="cpu, cuda or cuda:N: where dask / ray workers run the model (default: cpu; "
        "one GPU per Ray actor where the cluster has GPUs)",
    )
    group.add_argument("--seed", type=int, help="job seed of randomized methods")
    group.add_argument("--overwrite", action="store_true", help="replace another job in --out")


def command_dataset(args: argparse.Namespace, params: dict[str, Any], target: Any) -> int:
    """Run the dataset job and print its summary; errors name the flags."""
    from chronolens.streaming import explain_dataset

    if not args.method:
        raise ValueError("--method is required for a dataset job (see `chronolens methods`).")
    if Path(args.out).suffix.lower() != ".zarr":
        raise ValueError(f"--out {args.out!r}: a dataset job writes a Zarr group; end it in .zarr.")
    try:
        job = explain_dataset(
            args.model,
            args.data,
            method=args.method,
            out=args.out,
            engine=args.engine,
            scheduler=args.scheduler,
            n_workers=args.workers,
            device=args.device,
            chunk_size=args.chunk_size,
            seed=args.seed,
            target=target,
            layer=args.layer,
            layout=args.layout,
            batch_size=args.batch_size if args.batch_size == "auto" else int(args.batch_size),
            progress=False if args.quiet else None,
            overwrite=args.overwrite,
            **params,
        )
    except (ValueError, TypeError, FileNotFoundError) as error:
        message = str(error)
        for name, flag in _FLAGS.items():
            message = message.replace(name, flag)
        raise type(error)(message) from None
    if not args.quiet:
        print(f"{job!r}\n{job.summary()}")
    return 0
