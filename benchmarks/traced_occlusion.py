"""Occlusion on PyTorch models (chains, residual graphs, torch.export programs) against Captum.

Models (9 input channels, 4 classes):

- ``cnn``: the question's CNN (Conv1d(128, 9) -> BN -> ReLU -> MaxPool(5), twice) in a
  hand-written ``forward`` ending in a mean over time and a linear head: torch.fx traces it into
  a chain (``incremental-chain``);
- ``resnet``: ``chronolens.zoo.resnet`` (three residual blocks of 64, 128, 128 filters, kernels
  8/5/3, 1x1-conv shortcuts, global average pooling): ``incremental-graph``;
- ``residual``: a hand-written ``class Net(nn.Module)`` with identity and 1x1-conv shortcuts in
  its own ``forward``: ``incremental-graph``;
- ``exported``: that net saved with ``torch.export.save`` and loaded as ``chronolens explain``
  loads a ``.pt2`` (``chronolens.files.load_model``): ``incremental-graph``.

For each model and channel mode, rounds alternate chronolens and Captum's ``Occlusion`` (on the
eager model, ``perturbations_per_eval=64``) on the same inputs; the script prints the median
seconds, the ratio and the largest difference between the maps (relative to Captum's largest
value). ``--full`` adds chronolens's full-recomputation path (the model behind an untraceable
forward).

Run: ``python benchmarks/traced_occlusion.py [--models cnn,resnet,residual,exported]
[--channels each,all] [--cases 4] [--length 300] [--window 15] [--stride 5] [--rounds 3]
[--threads N] [--full]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from captum.attr import Occlusion
from torch import nn
from torch.nn import functional as F

import chronolens as cl
from chronolens import zoo
from chronolens.files import load_model

N_CHANNELS, N_CLASSES = 9, 4


class Net(nn.Module):
    """The question's CNN with its own forward: a chain once traced."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv1d(N_CHANNELS, 128, 9), nn.BatchNorm1d(128)
        self.conv2, self.bn2 = nn.Conv1d(128, 128, 9), nn.BatchNorm1d(128)
        self.head = nn.Linear(128, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool1d(F.relu(self.bn1(self.conv1(x))), 5)
        x = F.max_pool1d(F.relu(self.bn2(self.conv2(x))), 5)
        return self.head(x.mean(dim=-1))


class ResidualNet(nn.Module):
    """Residual blocks written in a forward: identity and 1x1-conv shortcuts, a max pool."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.stem, self.bn = nn.Conv1d(N_CHANNELS, width, 7, padding=3), nn.BatchNorm1d(width)
        self.a1 = nn.Conv1d(width, width, 5, padding=2)
        self.a2 = nn.Conv1d(width, width, 5, padding=2)
        self.b1 = nn.Conv1d(width, 2 * width, 3, padding=1)
        self.b2 = nn.Conv1d(2 * width, 2 * width, 3, padding=1)
        self.shortcut = nn.Conv1d(width, 2 * width, 1)
        self.fc = nn.Linear(2 * width, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = F.relu(x + self.a2(F.relu(self.a1(x))))
        x = F.max_pool1d(x, 2)
        x = F.relu(self.shortcut(x) + self.b2(F.relu(self.b1(x))))
        return self.fc(x.mean(dim=-1))


class Untraceable(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= 0:  # data-dependent Python: torch.fx cannot trace it
            return self.model(x)
        raise AssertionError


def exported(model: nn.Module, length: int, folder: Path) -> nn.Module:
    """``model`` through torch.export.save and chronolens's .pt2 loader (dynamic batch)."""
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = (torch.randn(2, N_CHANNELS, length),)
        program = torch.export.export(model, example, dynamic_shapes=({0: batch},))
        torch.export.save(program, folder / "model.pt2")
        return load_model(folder / "model.pt2")


def build(name: str, length: int, folder: Path) -> tuple[nn.Module, nn.Module, str]:
    """(model chronolens explains, eager model Captum explains, expected occlusion_path)."""
    torch.manual_seed(0)
    if name == "cnn":
        model = Net().eval()
        return model, model, "incremental-chain"
    if name == "resnet":
        model = zoo.resnet(N_CHANNELS, N_CLASSES).eval()
        return model, model, "incremental-graph"
    model = ResidualNet().eval()
    if name == "residual":
        return model, model, "incremental-graph"
    return exported(model, length, folder), model, "incremental-graph"


def compare(
    name: str, channels: str, x: np.ndarray, args: argparse.Namespace, folder: Path
) -> None:
    explained, eager, path = build(name, x.shape[-1], folder)
    options = {"window": args.window, "stride": args.stride, "target": 1, "progress": False}
    options["channels"] = channels
    xt = torch.from_numpy(x)
    rows = 1 if channels == "each" else N_CHANNELS

    def chronolens() -> np.ndarray:
        exp = cl.explain(explained, x, "occlusion", **options)
        assert exp.extras["occlusion_path"] == path, exp.extras["occlusion_path"]
        return exp.attributions

    def full() -> np.ndarray:
        exp = cl.explain(Untraceable(eager), x, "occlusion", **options)
        assert exp.extras["occlusion_path"] == "full"
        return exp.attributions

    def captum() -> np.ndarray:
        with torch.no_grad():
            maps = Occlusion(eager).attribute(
                xt,
                sliding_window_shapes=(rows, args.window),
                strides=(1, args.stride),
                target=1,
                baselines=0.0,
                perturbations_per_eval=64,
            )
        return maps.numpy() if channels == "each" else maps.numpy()[:, :1]

    runs: dict[str, Callable[[], np.ndarray]] = {"chronolens": chronolens, "captum": captum}
    if args.full:
        runs["full"] = full
    seconds: dict[str, list[float]] = {run: [] for run in runs}
    maps = {}
    for _ in range(args.rounds):
        for run, function in runs.items():
            start = time.perf_counter()
            maps[run] = function()
            seconds[run].append(time.perf_counter() - start)
    median = {run: statistics.median(values) for run, values in seconds.items()}
    gap = np.abs(maps["chronolens"] - maps["captum"]).max() / np.abs(maps["captum"]).max()
    line = (
        f"{name:<9} {channels:<5} {path:<18} chronolens {median['chronolens']:7.2f} s  "
        f"captum {median['captum']:7.2f} s  {median['captum'] / median['chronolens']:6.2f}x"
    )
    if args.full:
        line += f"  full {median['full']:7.2f} s"
    print(f"{line}  diff {gap:.1e}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cnn,resnet,residual,exported")
    parser.add_argument("--channels", default="each,all")
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=15)
    parser.add_argument("--stride", type=int, default=5)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x = np.random.default_rng(0).normal(size=(args.cases, N_CHANNELS, args.length))
    x = x.astype(np.float32)
    print(
        f"{args.cases} cases x {N_CHANNELS} x {args.length}, window {args.window}, "
        f"stride {args.stride}, median of {args.rounds} interleaved rounds, "
        f"{torch.get_num_threads()} torch threads"
    )
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            for channels in args.channels.split(","):
                compare(name, channels, x, args, Path(folder))


if __name__ == "__main__":
    main()
