"""Is attention faithful? Deletion curves and AP of an attention RNN's own weights (not a test).

Trains ``zoo.attention_rnn`` on ``make_sensor_events`` and, for the same model and the same test
cases, scores the ``attention`` map next to ``integrated_gradients`` and ``occlusion``: the
deletion curve's AUC (the explained class's raw score, a logit, as the most relevant points are
zeroed first; lower is better), its gain over the random order (random AUC - AUC; higher is
better) and the average precision against the planted mask (a map shared by channels is repeated
over channels, as the metric defines).

    python benchmarks/attention_faithfulness.py --quick
    python benchmarks/attention_faithfulness.py --epochs 40 --cases 800
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import chronolens as cl
from chronolens import zoo
from chronolens.datasets import make_sensor_events
from chronolens.metrics import average_precision_score, deletion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budget (minutes on 2 cores)")
    parser.add_argument("--cases", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.cases, args.epochs = 480, 25
    torch.set_num_threads(args.threads)
    X, y, mask = make_sensor_events(args.cases, n_timepoints=100, n_classes=3, n_channels=5, seed=0)
    n_train = int(0.75 * len(X))
    model = zoo.attention_rnn(X.shape[1], 3, hidden=32, cell=args.cell, seed=0)
    start = time.perf_counter()
    zoo.fit(model, X[:n_train], y[:n_train], epochs=args.epochs, lr=3e-3, seed=0, progress=False)
    fit_s = time.perf_counter() - start
    x_test, y_test, m_test = X[n_train:][:64], y[n_train:][:64], mask[n_train:][:64]
    acc = zoo.accuracy(model, X[n_train:], y[n_train:])
    print(
        f"attention_rnn ({args.cell}, hidden 32, bidirectional) on make_sensor_events "
        f"({args.cases} cases, 5 channels x 100 points, 3 classes), {args.epochs} epochs in "
        f"{fit_s:.0f} s; test accuracy {acc:.3f}; {len(x_test)} test cases; torch "
        f"{torch.__version__}, {args.threads} threads"
    )
    print("| method | deletion AUC (lower better) | random AUC | gain | AP vs mask | s |")
    print("|---|---|---|---|---|---|")
    chance = float(np.mean(m_test))
    for method, params in (
        ("attention", {}),
        ("integrated_gradients", {"n_steps": 32}),
        ("occlusion", {"window": 5}),
    ):
        start = time.perf_counter()
        exp = cl.explain(model, x_test, method, target=y_test, progress=False, **params)
        seconds = time.perf_counter() - start
        curve = deletion(model, exp, n_steps=20, absolute=True, seed=0)
        ap = np.nanmean(average_precision_score(exp, m_test))
        auc, rnd = curve.mean_auc, curve.mean_random_auc
        print(f"| {method} | {auc:.3f} | {rnd:.3f} | {rnd - auc:+.3f} | {ap:.3f} | {seconds:.1f} |")
    print(f"AP of a random map: about {chance:.3f} (the mask's share of points)")


if __name__ == "__main__":
    main()
