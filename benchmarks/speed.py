#!/usr/bin/env python
"""Speed of chronolens against Captum, in one process, on the same model and inputs.

The model is the user's architecture (Conv1d(128, 9) -> BatchNorm -> ReLU -> MaxPool(5), twice,
Flatten -> Linear; chronolens.zoo.conv1d_classifier) at 9 x 300 (256 cases) and at 9 x 3,000
(fewer cases: Captum's occlusion needs minutes per case there). For every method both libraries
run on the same inputs, alternating, and the script prints cases per second, the ratio, peak
resident memory, the largest difference between the two maps, and the method's cost in
forward+backward passes of one case (the floor of a gradient method is one pass per case and
integration step).

    python benchmarks/speed.py            # full: ~10 minutes on 2 cores
    python benchmarks/speed.py --quick    # 32 and 2 cases, ~1 minute
    python benchmarks/speed.py --only occlusion_each,occlusion_all

Like the shared Captum baseline, the script re-executes itself with glibc settings that keep
activation buffers mapped (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_), so both libraries run
under the same allocator; pass --default-malloc to skip that.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

import chronolens as cl
from chronolens import zoo

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}


def reexec_with_malloc_env(default_malloc: bool) -> None:
    if default_malloc or not sys.platform.startswith("linux"):
        return
    if all(key in os.environ for key in MALLOC_ENV):
        return
    env = {**os.environ, **MALLOC_ENV}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def peak_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, float, np.ndarray]:
    """Median seconds over repeats, peak RSS (MB) of the first run, and the last result."""
    times = []
    result = None
    peak = float("nan")
    for repeat in range(repeats):
        reset_peak()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if repeat == 0:
            peak = peak_mb()
    return statistics.median(times), peak, result


def build(n_timepoints: int) -> torch.nn.Module:
    model = zoo.conv1d_classifier(9, n_timepoints, 4, seed=0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def methods(model: torch.nn.Module, n_timepoints: int) -> dict[str, tuple[Callable, Callable]]:
    from captum.attr import FeatureAblation, IntegratedGradients, LayerGradCam, Occlusion, Saliency

    segments = torch.arange(n_timepoints) * 20 // n_timepoints
    mask180 = (segments[None] + torch.arange(9)[:, None] * 20)[None].long()

    def ours(name: str, **params) -> Callable:
        def run(x: torch.Tensor, target: torch.Tensor) -> np.ndarray:
            return cl.explain(model, x, name, target=target, progress=False, **params).attributions

        return run

    def grad_cam_captum(x, target):
        layer_map = LayerGradCam(model, model.conv2).attribute(
            x, target=target, relu_attributions=True
        )
        return layer_map.detach().numpy()

    def grad_cam_ours(x, target):
        exp = cl.explain(model, x, "grad_cam", target=target, layer="conv2", progress=False)
        return exp.extras["layer_map"][:, None]

    return {
        "saliency": (
            lambda x, t: Saliency(model).attribute(x, target=t, abs=True).numpy(),
            ours("saliency"),
        ),
        "integrated_gradients": (
            lambda x, t: (
                IntegratedGradients(model)
                .attribute(x, baselines=0.0, target=t, n_steps=50, internal_batch_size=1024)
                .detach()
                .numpy()
            ),
            ours("integrated_gradients", n_steps=50),
        ),
        "grad_cam": (grad_cam_captum, grad_cam_ours),
        "occlusion_each": (
            lambda x, t: (
                Occlusion(model)
                .attribute(
                    x,
                    sliding_window_shapes=(1, 15),
                    strides=(1, 5),
                    baselines=0.0,
                    target=t,
                    perturbations_per_eval=16,
                )
                .numpy()
            ),
            ours("occlusion", window=15, stride=5, channels="each"),
        ),
        "occlusion_all": (
            lambda x, t: (
                Occlusion(model)
                .attribute(
                    x,
                    sliding_window_shapes=(9, 15),
                    strides=(9, 5),
                    baselines=0.0,
                    target=t,
                    perturbations_per_eval=16,
                )
                .numpy()[:, :1]
            ),
            ours("occlusion", window=15, stride=5, channels="all"),
        ),
        "feature_ablation": (
            lambda x, t: (
                FeatureAblation(model)
                .attribute(
                    x, baselines=0.0, target=t, feature_mask=mask180, perturbations_per_eval=16
                )
                .numpy()
            ),
            ours("feature_ablation", n_segments=20, channels="each"),
        ),
    }


def forward_backward_seconds(
    model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor
) -> float:
    """Seconds per case of one batched forward + backward pass w.r.t. the input."""

    def run() -> np.ndarray:
        for start in range(0, len(x), 128):
            chunk = x[start : start + 128].clone().requires_grad_(True)
            out = model(chunk).gather(1, target[start : start + 128, None]).sum()
            torch.autograd.grad(out, chunk)
        return np.zeros(1)

    seconds, _, _ = timed(run, 3)
    return seconds / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", type=int, default=None, help="cases at 300 points")
    parser.add_argument("--long-cases", type=int, default=None, help="cases at 3,000 points")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--only", default="", help="comma-separated method keys")
    parser.add_argument("--skip-long", action="store_true", help="only the 300-point runs")
    parser.add_argument("--default-malloc", action="store_true")
    args = parser.parse_args()
    reexec_with_malloc_env(args.default_malloc)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    settings = [(300, args.cases or (32 if args.quick else 256))]
    if not args.skip_long:
        settings.append((3000, args.long_cases or (2 if args.quick else 8)))
    repeats = args.repeats or (1 if args.quick else 3)
    only = {key for key in args.only.split(",") if key}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, repeats={repeats}")
    header = (
        f"{'length':>6} {'cases':>5}  {'method':<22}{'captum /s':>11}{'chronolens /s':>15}"
        f"{'ratio':>8}{'captum MB':>11}{'ours MB':>9}{'x fwd+bwd':>11}{'max diff':>10}"
    )
    print(header)
    for n_timepoints, n_cases in settings:
        model = build(n_timepoints)
        x = torch.randn(n_cases, 9, n_timepoints, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            target = model(x).argmax(1)
        floor = forward_backward_seconds(model, x, target)
        for key, (captum_fn, ours_fn) in methods(model, n_timepoints).items():
            if only and key not in only:
                continue
            warm = slice(0, min(2, n_cases))
            captum_fn(x[warm], target[warm])
            ours_fn(x[warm], target[warm])
            captum_time, captum_peak, captum_map = timed(
                functools.partial(captum_fn, x, target), repeats
            )
            ours_time, ours_peak, ours_map = timed(functools.partial(ours_fn, x, target), repeats)
            scale = max(float(np.abs(captum_map).max()), 1e-12)
            difference = float(np.abs(captum_map - ours_map).max()) / scale
            print(
                f"{n_timepoints:>6} {n_cases:>5}  {key:<22}{n_cases / captum_time:>11.1f}"
                f"{n_cases / ours_time:>15.1f}{captum_time / ours_time:>8.2f}"
                f"{captum_peak:>11.0f}{ours_peak:>9.0f}{ours_time / n_cases / floor:>11.1f}"
                f"{difference:>10.1e}",
                flush=True,
            )
    print("ratio = Captum seconds / chronolens seconds (higher: chronolens faster); max diff is")
    print(
        "relative to the largest |value| of Captum's map; x fwd+bwd = chronolens seconds per case"
    )
    print("divided by one batched forward+backward pass per case (the floor is 1 for saliency and")
    print("grad_cam, 50 for integrated gradients with 50 steps).")


if __name__ == "__main__":
    main()
