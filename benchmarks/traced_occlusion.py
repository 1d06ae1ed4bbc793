"""Occlusion on a model written as ``class Net(nn.Module)``: traced chain against Captum.

The question's CNN body (Conv1d(128, 9) -> BN -> ReLU -> MaxPool(5), twice) with a hand-written
forward ending in a mean over time and a linear head. chronolens traces the forward with
torch.fx into a chain and runs its exact incremental engine; the same weights behind an
untraceable forward take the full-recomputation path. Captum's ``Occlusion`` runs on the same
inputs. Rounds alternate the three; the script prints the median seconds and the ratios, and
the largest difference between the maps.

Run: ``python benchmarks/traced_occlusion.py [--cases 16] [--length 300] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from captum.attr import Occlusion
from torch import nn
from torch.nn import functional as F

import chronolens as cl


class Net(nn.Module):
    def __init__(self, n_channels: int = 9, n_classes: int = 4) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv1d(n_channels, 128, 9), nn.BatchNorm1d(128)
        self.conv2, self.bn2 = nn.Conv1d(128, 128, 9), nn.BatchNorm1d(128)
        self.head = nn.Linear(128, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool1d(F.relu(self.bn1(self.conv1(x))), 5)
        x = F.max_pool1d(F.relu(self.bn2(self.conv2(x))), 5)
        return self.head(x.mean(dim=-1))


class Untraceable(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= 0:  # data-dependent Python: torch.fx cannot trace it
            return self.model(x)
        raise AssertionError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=15)
    parser.add_argument("--stride", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Net().eval()
    x = np.random.default_rng(0).normal(size=(args.cases, 9, args.length)).astype(np.float32)
    options = {"window": args.window, "stride": args.stride, "target": 1, "progress": False}
    xt = torch.from_numpy(x)

    def traced() -> np.ndarray:
        exp = cl.explain(model, x, "occlusion", **options)
        assert exp.extras["occlusion_path"] == "incremental", exp.extras["occlusion_path"]
        return exp.attributions

    def full() -> np.ndarray:
        exp = cl.explain(Untraceable(model), x, "occlusion", **options)
        assert exp.extras["occlusion_path"] == "full"
        return exp.attributions

    def captum() -> np.ndarray:
        with torch.no_grad():
            return (
                Occlusion(model)
                .attribute(
                    xt,
                    sliding_window_shapes=(1, args.window),
                    strides=(1, args.stride),
                    target=1,
                    baselines=0.0,
                    perturbations_per_eval=64,
                )
                .numpy()
            )

    runs = {"traced": traced, "full": full, "captum": captum}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    maps = {}
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            maps[name] = run()
            seconds[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"{args.cases} cases x 9 x {args.length}, window {args.window}, stride {args.stride}")
    for name in runs:
        print(f"  {name:<7} {median[name]:8.2f} s")
    print(f"  traced vs Captum: {median['captum'] / median['traced']:.2f}x faster")
    print(f"  traced vs full recomputation: {median['full'] / median['traced']:.2f}x faster")
    gap = np.abs(maps["traced"] - maps["captum"]).max() / np.abs(maps["captum"]).max()
    print(f"  largest difference from Captum, relative to its largest value: {gap:.1e}")


if __name__ == "__main__":
    main()
