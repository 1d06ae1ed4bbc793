"""Channel x time by construction (zoo.mil_channels + "mil") against dcam and channel_grad_cam.

On ``make_sensor_events`` and the dCAM protocol (``make_dcam``, type 1), each row trains one
model and explains the correctly classified test cases of the classes that hold evidence:

- ``mil_channels`` + ``explain(method="mil")`` (the model's own (channel, time) contributions),
- ``zoo.dcnn`` + ``dcam`` (Boniol et al. 2022),
- ``zoo.conv1d_classifier`` + ``channel_grad_cam``.

Reported: test accuracy, mean AP of the map against the ground-truth mask
(``chronolens.metrics.average_precision_score``, signed maps ranked as given, absolute=False
for mil, the metric's default otherwise), and seconds per explained case. Single models, one seed.

    nice -n 10 python benchmarks/mil_channels.py --quick
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import chronolens as cl
from chronolens import datasets, zoo

BUDGETS = {
    "quick": {"n_cases": 400, "epochs": 25, "explain": 20, "n_permutations": 8},
    "full": {"n_cases": 500, "epochs": 40, "explain": 50, "n_permutations": 50},
}


def _data(name: str, n_cases: int) -> datasets.Dataset:
    if name == "sensor_events":
        return datasets.make_sensor_events(n_cases, n_timepoints=150, seed=0)
    return datasets.make_dcam("type1", n_channels=6, n_cases=n_cases, n_timepoints=120, seed=0)


def _models(c: int, t: int, k: int) -> dict[str, tuple[torch.nn.Module, str, dict]]:
    return {
        "mil_channels + mil": (zoo.mil_channels(c, k, seed=0), "mil", {}),
        "dcnn + dcam": (zoo.dcnn(c, k, filters=(16, 16, 32), seed=0), "dcam", {}),
        "conv1d + channel_grad_cam": (
            zoo.conv1d_classifier(c, t, k, filters=32, seed=0),
            "channel_grad_cam",
            {},
        ),
    }


def run(budget: dict[str, int]) -> list[tuple[str, str, float, float, float]]:
    """Return ``(data, model + method, accuracy, AP, seconds per case)`` rows."""
    rows = []
    for name in ("sensor_events", "dcam_type1"):
        data = _data(name, budget["n_cases"])
        n_train = int(0.7 * len(data.y))
        x_train, y_train = data.X[:n_train], data.y[:n_train]
        x_test, y_test, mask = data.X[n_train:], data.y[n_train:], data.mask[n_train:]
        _, c, t = data.X.shape
        for label, (model, method, params) in _models(c, t, len(data.class_names)).items():
            torch.manual_seed(0)
            zoo.fit(model, x_train, y_train, epochs=budget["epochs"], lr=3e-3, progress=False)
            accuracy = zoo.accuracy(model, x_test, y_test)
            predicted = model(torch.from_numpy(x_test)).argmax(1).numpy()
            keep = np.nonzero((predicted == y_test) & mask.reshape(len(y_test), -1).any(1))[0]
            keep = keep[: budget["explain"]]
            if method == "dcam":
                params = {"n_permutations": budget["n_permutations"]}
            started = time.perf_counter()
            exp = cl.explain(model, x_test[keep], method, target=y_test[keep], **params)
            seconds = (time.perf_counter() - started) / max(len(keep), 1)
            ap = cl.metrics.average_precision_score(exp, mask[keep], absolute=method != "mil")
            rows.append((name, label, float(accuracy), float(np.mean(ap)), seconds))
            print(
                f"{name:14s} {label:28s} acc {accuracy:.3f}  AP {np.mean(ap):.3f}  "
                f"{seconds:.4f} s/case  ({len(keep)} cases)",
                flush=True,
            )
    return rows


def main() -> None:
    """Run the comparison and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budget (minutes on a CPU)")
    budget = BUDGETS["quick" if parser.parse_args().quick else "full"]
    torch.set_num_threads(1)
    rows = run(budget)
    print(f"\nbudget: {budget}\n")
    print("| data | model + method | accuracy | AP vs mask | s / case |")
    print("|---|---|---|---|---|")
    for name, label, accuracy, ap, seconds in rows:
        print(f"| {name} | {label} | {accuracy:.3f} | {ap:.3f} | {seconds:.4f} |")


if __name__ == "__main__":
    main()
