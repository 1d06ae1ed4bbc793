"""Activation maximization on the question's CNN: how real do the prototypes look?

Trains ``zoo.conv1d_classifier`` (Conv1d(128, 9) -> BN -> ReLU -> MaxPool(5), twice, Flatten,
Linear) on ``make_sensor_events`` (9 channels x 300 points), then maximizes each class with
three settings: the first release's (time-point steps, priors l2 / tv / lowpass = 0.01 / 0.1 /
1), the Fourier basis with those priors, and the defaults (Fourier basis, 3 / 3 / 30), and
prints per class and setting:

- roughness: mean |x[t+1] - x[t]| of the prototype over that of the reference data (1.0 = as
  smooth as real series; white noise of the data's spread is about 10);
- the target logit reached and whether the model predicts the target class;
- the Euclidean distance to the nearest real series, over the median nearest-neighbour distance
  among the real series (1.0 = as close to the data as real series are to each other).

Run: ``python benchmarks/prototypes.py [--cases 600] [--epochs 6] [--steps 200]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import chronolens as cl
from chronolens.datasets import make_sensor_events

WAVE_1 = {"l2": 0.01, "tv": 0.1, "lowpass": 1.0}
SETTINGS: dict[str, dict] = {
    "time, weak priors": {"parameterization": "time", **WAVE_1},
    "fourier, weak": {"parameterization": "fourier", **WAVE_1},
    "defaults": {},
}


def roughness(x: np.ndarray) -> float:
    """Mean absolute difference of neighbouring points, over cases, channels and time."""
    return float(np.abs(np.diff(x, axis=-1)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--restarts", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    X, y, _ = make_sensor_events(n_cases=args.cases + 200, seed=0)
    train, test = slice(0, args.cases), slice(args.cases, args.cases + 200)
    model = cl.zoo.conv1d_classifier(9, 300, 4, seed=0)
    start = time.perf_counter()
    cl.zoo.fit(model, X[train], y[train], epochs=args.epochs, progress=False)
    accuracy = cl.zoo.accuracy(model, X[test], y[test])
    print(f"trained in {time.perf_counter() - start:.0f} s, test accuracy {accuracy:.2f}")
    reference = X[train][:256]
    data_rough = roughness(reference)
    flat = reference.reshape(len(reference), -1).astype(np.float64)
    gaps = np.sqrt(((flat[:, None] - flat[None]) ** 2).sum(-1))
    np.fill_diagonal(gaps, np.inf)
    typical = float(np.median(gaps.min(axis=1)))
    print(f"data roughness {data_rough:.3f}; median nearest-neighbour distance {typical:.1f}")
    print("class  setting           roughness/data  logit   predicted  nearest/typical  s")
    for target in range(4):
        for setting, options in SETTINGS.items():
            begin = time.perf_counter()
            result = cl.maximize(
                model,
                target,
                reference=reference,
                seed=0,
                n_steps=args.steps,
                n_restarts=args.restarts,
                **options,
            )
            seconds = time.perf_counter() - begin
            ratio = roughness(result.prototypes) / data_rough
            hits = float(np.mean(result.predicted == target))
            near = float(np.mean(result.euclidean)) / typical
            print(
                f"{target:>5}  {setting:<17}  {ratio:>14.2f}  "
                f"{float(np.mean(result.target_value)):>6.1f}  {hits:>9.2f}  {near:>15.2f}  "
                f"{seconds:>3.0f}"
            )


if __name__ == "__main__":
    main()
