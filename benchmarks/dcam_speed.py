"""dCAM cost on the CPU: seconds per case for k = 100 permutations (not a test).

The dCAM paper reports 12 s per case for 10 dimensions and k = 100 with its reference
implementation on a GPU (one forward pass per permutation, merging in Python loops).
chronolens runs all permutations of a batch in one forward pass and merges with tensor ops.

    python benchmarks/dcam_speed.py                # D = 10, t = 200, k = 100
    python benchmarks/dcam_speed.py --dims 5 10 20 --threads 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import chronolens as cl
from chronolens import zoo

PAPER_DCNN = (128, 128, 256, 256, 256)  # Boniol et al.'s dCNN: five convolutions
PAPER_DRESNET = (64, 128, 128)  # and dResNet: three residual blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[10])
    parser.add_argument("--timepoints", type=int, default=200)
    parser.add_argument("--k", type=int, default=100, help="permutations per case")
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"dcam, k = {args.k}, t = {args.timepoints}, {args.cases} cases, torch "
        f"{torch.__version__}, {args.threads} threads"
    )
    print("| D | network | filters | s/case | forward passes/s |")
    print("|---|---|---|---|---|")
    for dims in args.dims:
        x = np.random.default_rng(0).normal(size=(args.cases, dims, args.timepoints))
        x = x.astype(np.float32)
        for name, model in (
            ("dcnn", zoo.dcnn(dims, 2, seed=0)),
            ("dcnn, the paper's widths", zoo.dcnn(dims, 2, filters=PAPER_DCNN, seed=0)),
            ("dresnet", zoo.dresnet(dims, 2, seed=0)),
            ("dresnet, the paper's widths", zoo.dresnet(dims, 2, filters=PAPER_DRESNET, seed=0)),
        ):
            widths = "/".join(
                str(m.out_channels)
                for m in model.modules()
                if isinstance(m, torch.nn.Conv2d) and m.kernel_size[1] > 1
            )
            # Warm-up (and the one-off receptive-field probe of the layer).
            cl.explain(model, x[:1], "dcam", n_permutations=4, seed=0, progress=False)
            start = time.perf_counter()
            cl.explain(model, x, "dcam", n_permutations=args.k, seed=0, progress=False)
            seconds = (time.perf_counter() - start) / args.cases
            print(
                f"| {dims} | {name} | {widths} | {seconds:.2f} | {args.k / seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
