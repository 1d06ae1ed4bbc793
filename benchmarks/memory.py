#!/usr/bin/env python
"""Peak memory of chronolens' methods under ``batch_size="auto"``: bounded, flat in cases.

Each configuration runs in a fresh Python process (so one run's freed pages never hide the
next one's), on the question's CNN (``zoo.conv1d_classifier``: Conv1d(128, 9) -> BN -> ReLU ->
MaxPool(5), twice, Flatten -> Linear), untrained. The child measures its resident set before
the call (imports, model, inputs) and its high-water mark after it (``VmHWM``), and prints
both. The bound ``batch_size="auto"`` promises per chunk is 256 MB of forward activations
(``chronolens._batching.TOTAL_BYTES``); a backward pass holds about as much again in
gradients, so a method's peak above the before-call level should stay under about
2 x 256 MB plus its outputs, whatever the number of cases.

    python benchmarks/memory.py                     # IG 500 steps at 9 x 3,000 (2 and 8
                                                    # cases), Score-CAM at 9 x 300 (32, 256)
    python benchmarks/memory.py --ig-cases 2,8 --score-cam-cases 32,256,1024 --peer
                                                    # the README's table (about 2 min idle)
    python benchmarks/memory.py --ig-cases 8,512    # the issue's 512 (hours on 2 cores)

``--peer`` adds Captum's IG on ``--peer-cases`` cases (default 1) with all steps in one batch
(3 GB for one case at 500 steps).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import numpy as np, torch
import chronolens as cl
from chronolens import zoo
from chronolens._batching import resolve_batch_size
from chronolens.models import adapt

def rss_mb(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")

spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
model = zoo.conv1d_classifier(9, spec["t"], 4, seed=0).eval()
x = np.random.default_rng(0).standard_normal((spec["n"], 9, spec["t"])).astype(np.float32)
target = np.arange(spec["n"]) % 4
rows = resolve_batch_size("auto", adapt(model), 9, spec["t"])
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
before = rss_mb("VmRSS")
start = time.perf_counter()
if spec["library"] == "captum":
    from captum.attr import IntegratedGradients
    out = IntegratedGradients(model).attribute(
        torch.from_numpy(x), target=torch.from_numpy(target), n_steps=spec["steps"],
        internal_batch_size=None,
    ).detach().numpy()
else:
    params = {"n_steps": spec["steps"]} if spec["method"] == "integrated_gradients" else {}
    out = cl.explain(model, x, spec["method"], target=target, progress=False, **params).attributions
seconds = time.perf_counter() - start
print(json.dumps({"before_mb": before, "peak_mb": rss_mb("VmHWM"), "seconds": seconds,
                  "rows_per_chunk": rows, "output_mb": out.nbytes / 2**20}))
"""


def measure(spec: dict) -> dict:
    """Run one configuration in a fresh interpreter and return its measurements."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1][:120]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ig-cases", default="2,8", help="case counts for IG at 9 x 3,000")
    parser.add_argument("--ig-steps", type=int, default=500)
    parser.add_argument("--score-cam-cases", default="32,256", help="case counts at 9 x 300")
    parser.add_argument(
        "--peer", action="store_true", help="also Captum's IG, all steps in one batch"
    )
    parser.add_argument(
        "--peer-cases", type=int, default=1, help="cases for Captum (its one batch grows with them)"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    configs = [
        {"method": "integrated_gradients", "t": 3000, "n": int(n), "steps": args.ig_steps}
        for n in args.ig_cases.split(",")
    ]
    configs += [
        {"method": "score_cam", "t": 300, "n": int(n), "steps": 0}
        for n in args.score_cam_cases.split(",")
    ]
    if args.peer:
        configs.append(
            {
                "method": "integrated_gradients",
                "t": 3000,
                "n": args.peer_cases,
                "steps": args.ig_steps,
                "library": "captum",
            }
        )
    print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, torch threads {args.threads}")
    print(
        "| library | method | cases x channels x points | steps | rows per chunk | "
        "before call MB | peak MB | peak - before MB | output MB | s |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for config in configs:
        spec = {"library": "chronolens", "threads": args.threads, **config}
        got = measure(spec)
        shape = f"{spec['n']} x 9 x {spec['t']}"
        steps = spec["steps"] or "-"
        if "error" in got:
            print(
                f"| {spec['library']} | {spec['method']} | {shape} | {steps} | error: "
                f"{got['error']} | | | | | |",
                flush=True,
            )
            continue
        rows = got["rows_per_chunk"] if spec["library"] == "chronolens" else "all"
        print(
            f"| {spec['library']} | {spec['method']} | {shape} | {steps} | {rows} | "
            f"{got['before_mb']:.0f} | {got['peak_mb']:.0f} | "
            f"{got['peak_mb'] - got['before_mb']:.0f} | {got['output_mb']:.0f} | "
            f"{got['seconds']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
