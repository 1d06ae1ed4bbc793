"""dCAM cost on the CPU: seconds per case for k = 100 permutations (not a test).

The dCAM paper reports 12 s per case for 10 dimensions and k = 100 with its reference
implementation on a GPU (one forward pass per permutation, merging in Python loops).
chronolens runs all permutations of a batch in one forward pass and merges with tensor ops.
``--reference`` also times that reference algorithm on the CPU, in the same process on the same
model and case: a cube built and run per permutation, the CAM from the linear layer's weights,
the merge in Python loops (the procedure of the paper's code, written out as the test suite's
literal re-implementation does), and prints the ratio and the largest difference of the maps.

    python benchmarks/dcam_speed.py                # D = 10, t = 200, k = 100
    python benchmarks/dcam_speed.py --reference --reference-cases 2
    python benchmarks/dcam_speed.py --dims 5 10 20 --threads 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import chronolens as cl
from chronolens import zoo
from chronolens.attribution.dcam import permutations

PAPER_DCNN = (128, 128, 256, 256, 256)  # Boniol et al.'s dCNN: five convolutions
PAPER_DRESNET = (64, 128, 128)  # and dResNet: three residual blocks


def reference_dcam(
    model: torch.nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    k: int,
    seed: int,
    centres: np.ndarray | None = None,
) -> np.ndarray:
    """The reference algorithm: one cube and one forward pass per permutation, loops to merge.

    ``centres`` (the layer positions' receptive-field centres in input time) adds the one step
    chronolens takes that the reference does not: each cube's CAM is linearly interpolated from
    those centres to the input's time points (with ``padding="same"`` and even kernels, as in the
    dResNet, the positions sit half a point off per convolution).
    """
    features = model.features if hasattr(model, "features") else model.blocks
    weight = model.fc.weight.detach().numpy()
    dims = x.shape[1]
    orders = permutations(k, dims, seed)
    maps = []
    for case in range(len(x)):
        kept = []
        for order in orders:
            cube = np.array(
                [[x[case, order[(i + j) % dims]] for j in range(dims)] for i in range(dims)]
            )
            with torch.no_grad():
                activation = features(torch.from_numpy(cube[None]))[0].numpy()
                predicted = int(model(torch.from_numpy(x[case, order][None])).argmax())
            cam = np.tensordot(weight[target[case]], activation, axes=1)
            cam = (cam - cam.min()) / (cam.max() - cam.min())
            if centres is not None:
                time_points = np.arange(x.shape[-1])
                cam = np.array([np.interp(time_points, centres, row) for row in cam])
            full = np.zeros((dims, dims, x.shape[-1]))
            for i in range(dims):
                for j in range(dims):
                    full[order[(i + j) % dims], i] = cam[j]
            if predicted == target[case]:
                kept.append(full)
        if not kept:
            maps.append(np.zeros((dims, x.shape[-1])))
            continue
        mean = np.mean(kept, axis=0)
        variance = ((mean - mean.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
        maps.append(variance * mean.mean(axis=(0, 1)))
    return np.array(maps)


def compare_with_reference(model: torch.nn.Module, x: np.ndarray, k: int) -> str:
    """Seconds per case of the reference and of chronolens on the same cases; ratio; max diff."""
    with torch.no_grad():
        target = model(torch.from_numpy(x)).argmax(1).numpy()
    start = time.perf_counter()
    ours = cl.explain(model, x, "dcam", target=target, n_permutations=k, seed=0, progress=False)
    our_seconds = (time.perf_counter() - start) / len(x)
    centres = np.asarray(ours.extras["layer_centers"], dtype=float)
    aligned = None if np.array_equal(centres, np.arange(x.shape[-1])) else centres
    start = time.perf_counter()
    reference = reference_dcam(model, x, target, k, seed=0, centres=aligned)
    reference_seconds = (time.perf_counter() - start) / len(x)
    scale = max(float(np.abs(reference).max()), 1e-12)
    difference = float(np.abs(ours.attributions - reference).max()) / scale
    return (
        f" reference {reference_seconds:.2f} s/case, chronolens {our_seconds:.2f} s/case on "
        f"the same {len(x)} cases: {reference_seconds / our_seconds:.1f}x; largest difference "
        f"{difference:.1e} of the map's range"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[10])
    parser.add_argument("--timepoints", type=int, default=200)
    parser.add_argument("--k", type=int, default=100, help="permutations per case")
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference", action="store_true", help="time the reference too")
    parser.add_argument("--reference-cases", type=int, default=2)
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
            ("dcnn", zoo.dcnn(dims, 2, seed=0).eval()),
            ("dcnn, the paper's widths", zoo.dcnn(dims, 2, filters=PAPER_DCNN, seed=0).eval()),
            ("dresnet", zoo.dresnet(dims, 2, seed=0).eval()),
            (
                "dresnet, the paper's widths",
                zoo.dresnet(dims, 2, filters=PAPER_DRESNET, seed=0).eval(),
            ),
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
            if args.reference:
                print("  " + compare_with_reference(model, x[: args.reference_cases], args.k))


if __name__ == "__main__":
    main()
