"""Channel x time maps on the user's architecture: average precision against planted masks.

Trains ``zoo.conv1d_classifier`` (Conv1d(128, 9) -> BN -> ReLU -> MaxPool(5), twice, Flatten ->
Linear) as ``chronolens demo`` does, explains held-out cases with each method and prints the mean
average precision of each map against the planted ground truth, with seconds per case.

Run: ``.venv/bin/python benchmarks/channel_maps.py [--n-explain 100] [--data sensor_events]
[--skip tsr]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

import chronolens as cl
from chronolens import zoo
from chronolens.datasets import make_interpret_time, make_sensor_events
from chronolens.metrics import average_precision_score

METHODS = {
    "saliency": {},
    "input_x_gradient": {},
    "smoothgrad": {"seed": 0},
    "grad_cam": {},
    "channel_grad_cam": {},
    "tsr (base saliency, window 5)": {"method": "tsr", "base": "saliency", "window": 5},
}

# name -> (data, training cases). InterpretTime needs more cases than the demo's 600 before the
# user's architecture learns it (the frequencies of two short bursts decide the class).
DATA = {
    "sensor_events": (lambda: make_sensor_events(n_cases=800, seed=0), 600),
    "interpret_time": (lambda: make_interpret_time(n_cases=3300, seed=0), 3000),
}


def run(name: str, n_explain: int, skip: tuple[str, ...] = ()) -> None:
    """Train on one data set, explain ``n_explain`` held-out cases, print the table."""
    factory, n_train = DATA[name]
    data = factory()
    train = data.subset(slice(0, n_train))
    test = data.subset(slice(n_train, n_train + n_explain))
    _, c, t = data.X.shape
    model = zoo.conv1d_classifier(c, t, data.n_classes, seed=0)
    start = time.perf_counter()
    zoo.fit(model, train.X, train.y, epochs=12, lr=2e-3, weight_decay=1e-3, seed=0, progress=False)
    held_out = data.subset(slice(n_train, None))
    accuracy = zoo.accuracy(model, held_out.X, held_out.y)
    print(
        f"\n{name}: {c} channels x {t} points, trained in {time.perf_counter() - start:.0f} s, "
        f"{n_train} training cases, test accuracy {accuracy:.2f}; {n_explain} cases explained "
        "(predicted class)"
    )
    print(f"{'method':<32}{'AP vs mask':>12}{'s / case':>10}")
    for label, params in METHODS.items():
        if any(label.startswith(prefix) for prefix in skip):
            continue
        params = dict(params)
        method = params.pop("method", label)
        start = time.perf_counter()
        exp = cl.explain(model, test.X, method, progress=False, **params)
        seconds = (time.perf_counter() - start) / n_explain
        ap = float(np.nanmean(average_precision_score(exp, test.mask)))
        print(f"{label:<32}{ap:>12.3f}{seconds:>10.4f}")
    print(f"{'(random map: share of the mask)':<32}{float(test.mask.mean()):>12.3f}")


def main() -> None:
    """Parse arguments and run the benchmark on each data set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-explain", type=int, default=100)
    parser.add_argument("--data", choices=[*DATA, "all"], default="all")
    parser.add_argument("--skip", nargs="*", default=[], help="methods to leave out, e.g. tsr")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")
    torch.set_num_threads(2)
    for name in DATA if args.data == "all" else [args.data]:
        run(name, args.n_explain, tuple(args.skip))


if __name__ == "__main__":
    main()
