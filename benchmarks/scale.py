#!/usr/bin/env python
"""Whole-dataset throughput: a bare torch loop over a memory-mapped array against
``explain_dataset`` on the local engine, a Dask LocalCluster and Ray local.

The model is the question's CNN (``chronolens.zoo.conv1d_classifier``, 9 channels x 300, two
Conv1d(128, 9) blocks), exported to a ``.pt2`` archive that every engine loads. Each
configuration runs in its own process; peak memory is the largest summed RSS of that process and
its children (workers), sampled every 0.1 s.

    nice -n 10 python benchmarks/scale.py --cases 20000
    python benchmarks/scale.py --cases 2000 --only local,dask --methods saliency
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CHILD = """
import json, sys, time
import numpy as np, torch
config, method, model_path, data, out, workers = sys.argv[1:7]
torch.set_num_threads(1 if config in ("dask", "ray") else int(workers))
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
                    n_workers=int(workers), progress=False, overwrite=True)
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


def run(config: str, method: str, model: Path, data: Path, out: Path, workers: int) -> dict:
    """One configuration in a fresh process: cases/s (whole process), peak RSS."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            config,
            method,
            str(model),
            str(data),
            str(out),
            str(workers),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--timepoints", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="bare,local,dask,ray")
    parser.add_argument("--methods", default="saliency,channel_grad_cam")
    args = parser.parse_args()

    import numpy as np

    from chronolens.streaming._runner import export_module
    from chronolens.zoo import conv1d_classifier

    folder = Path(tempfile.mkdtemp(prefix="chronolens-scale-"))
    model = export_module(conv1d_classifier(9, args.timepoints, 4), 9, args.timepoints)
    data = folder / "x.npy"
    x = np.lib.format.open_memmap(data, "w+", np.float32, (args.cases, 9, args.timepoints))
    for i in range(0, args.cases, 5000):
        x[i : i + 5000] = np.random.default_rng(i).normal(size=x[i : i + 5000].shape)
    x.flush()
    del x
    print(f"{args.cases} cases x 9 x {args.timepoints}, {args.workers} workers")
    print(f"{'method':<18}{'engine':<7}{'cases/s':>9}{'work s':>8}{'wall s':>8}{'peak GB':>9}")
    for method in args.methods.split(","):
        for config in args.only.split(","):
            r = run(config, method, model, data, folder / f"{config}.zarr", args.workers)
            rate = args.cases / r["wall_s"]
            print(
                f"{method:<18}{config:<7}{rate:>9.0f}{r['work_s']:>8.1f}{r['wall_s']:>8.1f}"
                f"{r['peak_gb']:>9.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
