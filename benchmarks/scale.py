#!/usr/bin/env python
"""Whole-dataset throughput: a bare torch loop over a memory-mapped array against
``explain_dataset`` on the local engine, a Dask LocalCluster and Ray local.

The model is the question's CNN (``chronolens.zoo.conv1d_classifier``, 9 channels, two
Conv1d(128, 9) blocks, untrained), exported to a ``.pt2`` archive that every engine loads. Each
configuration runs in its own process; peak memory is the largest summed RSS of that process and
its children (workers), sampled every 0.1 s. Cases/s are over the whole process (start-up, model
load and cluster start included); "work s" is the time inside the process after its imports.

Sections (``--sections``, default all):

- ``engines``: saliency and channel_grad_cam at ``--cases`` x 9 x 300 on every engine.
- ``lengths``: the local engine and the bare loop at ``--lengths`` points, ``--length-cases``
  cases: cost per case should grow linearly in the length.
- ``flat``: peak RSS of the local engine (saliency) at each of ``--flat`` case counts.
- ``cost``: the cost model ``T = s + n c / N + (n / chunk) o / N`` (N = workers that get a core):
  ``c`` from a one-thread bare loop, ``o`` from one-worker Dask runs of one chunk and of
  ``--cost-cases``, ``s`` (start-up) from a one-chunk run of each cluster; then checked against
  Dask LocalClusters of ``--check-workers`` workers on ``--cost-cases``.

    nice -n 10 python benchmarks/scale.py --cases 20000 --flat 20000,200000
    python benchmarks/scale.py --cases 2000 --sections engines --only local,dask --methods saliency
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CHUNK = 1024

CHILD = """
import json, sys, time
import numpy as np, torch
config, method, model_path, data, out, workers, threads = sys.argv[1:8]
torch.set_num_threads(int(threads))
start = time.perf_counter()
if config == "bare":
    from chronolens.files import load_model
    import chronolens as cl
    model = load_model(model_path).eval()
    x = np.load(data, mmap_mode="r")
    for i in range(0, len(x), 1024):
        batch = torch.from_numpy(np.ascontiguousarray(x[i:i + 1024]))
        if method == "saliency":
            batch.requires_grad_(True)
            scores = model(batch)
            picked = scores.gather(1, scores.argmax(1, keepdim=True)).sum()
            (grad,) = torch.autograd.grad(picked, batch)
            grad.abs().numpy()
        else:
            cl.explain(model, batch.numpy(), method, progress=False)
else:
    from chronolens.streaming import explain_dataset
    explain_dataset(model_path, data, method=method, out=out, engine=config, chunk_size=1024,
                    n_workers=int(workers), threads_per_worker=1, progress=False,
                    overwrite=True)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def _peak_rss(process: subprocess.Popen, peak: list[int]) -> None:
    import psutil

    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
            peak[0] = max(peak[0], total)
        except psutil.Error:
            pass
        time.sleep(0.1)


def run(
    config: str, method: str, model: Path, data: Path, out: Path, workers: int, threads: int
) -> dict:
    """One configuration in a fresh process: wall and work seconds, peak summed RSS."""
    started = time.perf_counter()
    argv = [config, method, str(model), str(data), str(out), str(workers), str(threads)]
    command = [sys.executable, "-c", CHILD, *argv]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak = [0]
    sampler = threading.Thread(target=_peak_rss, args=(child, peak), daemon=True)
    sampler.start()
    stdout, _ = child.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"{config}/{method} failed")
    inner = json.loads(stdout.strip().splitlines()[-1])["seconds"]
    return {"wall_s": wall, "work_s": inner, "peak_gb": peak[0] / 1e9}


class Bench:
    """The model files and data sets of one benchmark run, made on first use, in one folder."""

    def __init__(self, workers: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="chronolens-scale-"))
        self.workers = workers
        self.models: dict[int, Path] = {}
        self.rows: list[dict] = []

    def model(self, t: int) -> Path:
        if t not in self.models:
            from chronolens.streaming._runner import export_module
            from chronolens.zoo import conv1d_classifier

            self.models[t] = export_module(conv1d_classifier(9, t, 4), 9, t)
        return self.models[t]

    def data(self, n: int, t: int) -> Path:
        import numpy as np

        path = self.folder / f"x{n}_{t}.npy"
        if not path.exists():
            x = np.lib.format.open_memmap(path, "w+", np.float32, (n, 9, t))
            for i in range(0, n, 5000):
                x[i : i + 5000] = np.random.default_rng(i).normal(size=x[i : i + 5000].shape)
            x.flush()
            del x
        return path

    def measure(
        self,
        section: str,
        config: str,
        method: str,
        n: int,
        t: int = 300,
        workers: int | None = None,
        threads: int | None = None,
    ) -> dict:
        """Run one configuration, print and keep its row, and drop its output."""
        import shutil

        workers = self.workers if workers is None else workers
        if threads is None:
            threads = 1 if config in ("dask", "ray") else workers
        out = self.folder / f"{config}.zarr"
        r = run(config, method, self.model(t), self.data(n, t), out, workers, threads)
        shutil.rmtree(out, ignore_errors=True)
        row = {"section": section, "config": config, "method": method, "cases": n, "t": t,
               "workers": workers, "threads": threads, **r, "rate": n / r["wall_s"]}  # fmt: skip
        self.rows.append(row)
        print(
            f"{section:<8}{method:<18}{config:<6}{n:>8}{t:>6}{workers:>4}{threads:>4}"
            f"{row['rate']:>9.0f}{r['work_s']:>9.1f}{r['wall_s']:>9.1f}{r['peak_gb']:>8.2f}",
            flush=True,
        )
        return row


def engines(bench: Bench, args: argparse.Namespace) -> None:
    for method in args.methods.split(","):
        for config in args.only.split(","):
            threads = args.worker_threads if config in ("dask", "ray") else None
            bench.measure("engines", config, method, args.cases, threads=threads)


def lengths(bench: Bench, args: argparse.Namespace) -> None:
    for t in (int(v) for v in args.lengths.split(",")):
        bench.measure("lengths", "bare", "saliency", args.length_cases, t)
        for method in args.methods.split(","):
            bench.measure("lengths", "local", method, args.length_cases, t)


def flat(bench: Bench, args: argparse.Namespace) -> None:
    for n in (int(v) for v in args.flat.split(",")):
        bench.measure("flat", "local", "saliency", n)
        (bench.folder / f"x{n}_300.npy").unlink()  # the large input files are not kept


def cost(bench: Bench, args: argparse.Namespace) -> dict:
    """Calibrate c, o, s on one worker; predict and measure N-worker Dask clusters."""
    n, cores = args.cost_cases, os.cpu_count() or 1
    bare = bench.measure("cost", "bare", "saliency", n, threads=1)
    c = bare["work_s"] / n  # per case, one thread, no engine
    one = bench.measure("cost", "dask", "saliency", CHUNK, workers=1)
    full = bench.measure("cost", "dask", "saliency", n, workers=1)
    chunks = -(-n // CHUNK)
    per_chunk = (full["wall_s"] - one["wall_s"]) / (chunks - 1)
    o = max(0.0, per_chunk - CHUNK * c)
    s = one["wall_s"] - CHUNK * c - o
    model = {"c_ms": 1e3 * c, "o_s": o, "s_s": s, "cores": cores, "checks": []}
    for workers in (int(v) for v in args.check_workers.split(",")):
        effective = min(workers, cores)  # workers beyond the cores share them
        start = bench.measure("cost", "dask", "saliency", CHUNK, workers=workers)
        s_n = start["wall_s"] - CHUNK * c - o  # start-up of this cluster, measured
        predicted = s_n + n * c / effective + chunks * o / effective
        got = bench.measure("cost", "dask", "saliency", n, workers=workers)
        model["checks"].append(
            {"workers": workers, "s_s": s_n, "predicted_s": predicted, "measured_s": got["wall_s"]}
        )
    print(f"cost model: c = {1e3 * c:.3f} ms/case, o = {o:.3f} s/chunk, s = {s:.1f} s")
    for check in model["checks"]:
        print(
            f"  {check['workers']} workers: start-up {check['s_s']:.1f} s, "
            f"predicted {check['predicted_s']:.1f} s, "
            f"measured {check['measured_s']:.1f} s"
        )
    return model


def markdown(rows: list[dict]) -> str:
    """The rows as one Markdown table."""
    lines = [
        "| section | method | engine | cases | points | workers x threads | cases/s | work s "
        "| wall s | peak GB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['section']} | {r['method']} | {r['config']} | {r['cases']:,} | {r['t']:,} "
            f"| {r['workers'] if r['config'] in ('dask', 'ray') else 1} x {r['threads']} "
            f"| {r['rate']:.0f} | {r['work_s']:.1f} "
            f"| {r['wall_s']:.1f} "
            f"| {r['peak_gb']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000, help="cases of the engines section")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers / Ray actors")
    parser.add_argument("--worker-threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--only", default="bare,local,dask,ray", help="engines compared")
    parser.add_argument("--methods", default="saliency,channel_grad_cam")
    parser.add_argument("--sections", default="engines,lengths,flat,cost")
    parser.add_argument("--lengths", default="300,1000,3000")
    parser.add_argument("--length-cases", type=int, default=2_000)
    parser.add_argument("--flat", default="20000,200000", help="case counts of the flat section")
    parser.add_argument("--cost-cases", type=int, default=8_192)
    parser.add_argument("--check-workers", default="2,4")
    parser.add_argument("--json", type=Path, help="write every row (and the cost model) here")
    args = parser.parse_args()
    bench = Bench(args.workers)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start")
    print(
        f"{'section':<8}{'method':<18}{'engine':<6}{'cases':>8}{'t':>6}{'wrk':>4}{'thr':>4}"
        f"{'cases/s':>9}{'work s':>9}{'wall s':>9}{'peak GB':>8}"
    )
    started, fitted = time.perf_counter(), None
    sections = args.sections.split(",")
    for name, step in (("engines", engines), ("lengths", lengths), ("flat", flat)):
        if name in sections:
            step(bench, args)
    if "cost" in sections:
        fitted = cost(bench, args)
    print(f"total {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f}")
    print(markdown(bench.rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": bench.rows, "cost": fitted}, indent=1))
    import shutil

    shutil.rmtree(bench.folder, ignore_errors=True)  # the data sets (GBs at large --cases)


if __name__ == "__main__":
    main()
