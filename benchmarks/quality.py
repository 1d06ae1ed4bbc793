"""Quality benchmark: do chronolens' maps find planted evidence? (not a test)

1. Serramazza et al. (2024), Table 3 protocol: train a 1D ResNet on InterpretTime data
   (``make_interpret_time``: 8 channels x 500 points, label from two sine bursts' frequencies),
   explain test cases with every registered method, and score each map against the mask
   (average precision and ROC AUC), next to the published values.
2. The dCAM paper's Type 1 / Type 2 protocol (``make_dcam``, protocol-matched patterns from
   BasicMotions): the same scores per method on a ResNet, and ``dcam`` (with saliency and
   integrated gradients for reference) on a dimension-wise CNN (``zoo.dcnn``).

Methods are taken from ``chronolens.methods()`` at run time, so new methods are benchmarked
as soon as they are registered; a random map (uniform noise) is the reference.

    python benchmarks/quality.py --quick      # minutes on a laptop CPU
    python benchmarks/quality.py --medium     # ~20-40 minutes on 2 CPU cores
    python benchmarks/quality.py              # the paper's 1,000 test cases (hours on CPU)
    python benchmarks/quality.py --medium --only interpret_time --test-cases 1000 \
        --methods saliency,integrated_gradients,feature_ablation,shapley  # the published ones
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

import chronolens as cl
from chronolens import zoo
from chronolens.datasets import make_dcam, make_interpret_time
from chronolens.metrics import average_precision_score, cpd, cpp, roc_auc_score

# Serramazza et al. 2024, Table 3 (InterpretTime, ResNet): AUC-PR of each method's map.
PUBLISHED = {
    "saliency": ".067",
    "integrated_gradients": ".153",
    "feature_ablation": ".401 (chunked) / .168",
    "shapley": ".544 (chunked) / .175",
    "random": ".052",
}
PUBLISHED_ACCURACY = 0.868
# Patterns are z-normalised and injected into unit Gaussian noise; at amplitude 1 the small
# networks here do not learn Type 1 in the budgets below, at 3 an FCN does (10 dimensions).
DCAM_AMPLITUDE = 3.0

BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {
        "train": 500,
        "test": 20,
        "epochs": 12,
        "filters": (32, 64, 64),
        "dcam_train": 300,
        "dcam_test": 20,
        "dcam_dims": 6,
        "dcam_filters": (32, 32, 64),
        "params": {
            "shapley": {"n_samples": 128},
            "lime": {"n_samples": 128},
            "dcam": {"n_permutations": 20},
            "tsr": {"window": 5},
            "dynamask": {"n_steps": 100},
            "extremal_mask": {"n_steps": 30},
        },
    },
    "medium": {
        "train": 6000,
        "test": 100,
        "epochs": 15,
        "filters": (32, 64, 64),
        "dcam_train": 1000,
        "dcam_test": 100,
        "dcam_dims": 10,
        "dcam_filters": (32, 32, 64),
        "params": {
            "shapley": {"n_samples": 512},
            "lime": {"n_samples": 512},
            "dcam": {"n_permutations": 100},
            "tsr": {"window": 5},
            "dynamask": {"n_steps": 300},
            "extremal_mask": {"n_steps": 300},
        },
    },
    "full": {
        "train": 4000,
        "test": 1000,
        "epochs": 30,
        "filters": (64, 128, 128),
        "dcam_train": 2000,
        "dcam_test": 500,
        "dcam_dims": 20,
        "dcam_filters": (64, 64, 128, 128),
        "params": {"dcam": {"n_permutations": 100}},
    },
}


def _accuracy(model: torch.nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    with torch.inference_mode():
        scores = torch.cat([model(torch.from_numpy(X[i : i + 256])) for i in range(0, len(X), 256)])
    return float((scores.argmax(1).numpy() == y).mean())


def _train(X, y, n_classes, budget, seed):
    model = zoo.resnet(X.shape[1], n_classes, filters=budget["filters"], seed=seed)
    start = time.perf_counter()
    zoo.fit(model, X, y, epochs=budget["epochs"], lr=1e-3, seed=seed, progress=False)
    return model.eval(), time.perf_counter() - start


def _score_methods(
    model, X, y, mask, budget, seed, names=None, label=""
) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []
    rng = np.random.default_rng(seed)
    if names is None:  # every method that reads this kind of network, and a random map
        names = [n for n in cl.methods().names() if cl.registry.get_method(n).layer_rank == 3]
        names.append("random")
    if budget.get("methods"):  # --methods: only these (and the random reference)
        names = [n for n in names if n in budget["methods"] or n == "random"]
    for name in names:
        start = time.perf_counter()
        try:
            if name == "random":
                exp = cl.Explanation(
                    x=X,
                    attributions=rng.random(X.shape).astype(np.float32),
                    target=y,
                    scores=np.zeros((len(X), 1)),
                    method="random",
                )
            else:
                params = dict(budget["params"].get(name, {}))
                if cl.registry.get_method(name).needs_layer and name != "dcam":
                    # The block output: the default layer (the block's ReLU module) runs twice
                    # per forward pass in zoo.ResNet, so its activation is ambiguous.
                    params["layer"] = f"blocks.{len(budget['filters']) - 1}"
                exp = cl.explain(model, X, name, target=y, progress=False, **params)
        except Exception as error:  # a method that does not apply to this model
            message = f"error: {type(error).__name__}: {error}"[:70]
            rows.append((name + label, "-", "-", "-", message))
            print("  ", *rows[-1], flush=True)
            continue
        seconds = (time.perf_counter() - start) / len(X)
        ap = np.nanmean(average_precision_score(exp, mask))
        roc = np.nanmean(roc_auc_score(exp, mask))
        shared = "" if exp.per_channel else " (shared map)"
        rows.append((name + label, f"{seconds:.4f}", f"{ap:.3f}", f"{roc:.3f}", shared.strip()))
        print("  ", *rows[-1], flush=True)
    return rows


def _print_table(title: str, rows, published: dict[str, str] | None) -> None:
    print(f"\n{title}")
    header = ["method", "s/case", "AP", "ROC AUC"]
    if published is not None:
        header.append("published AP")
    header.append("note")
    lines = [header]
    for name, seconds, ap, roc, note in rows:
        line = [name, seconds, ap, roc]
        if published is not None:
            line.append(published.get(name, ""))
        line.append(note)
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |")


def serramazza(budget: dict[str, Any], seed: int) -> None:
    n_train, n_test = budget["train"], budget["test"]
    X, y, mask = make_interpret_time(n_train + n_test, seed=seed)
    model, seconds = _train(X[:n_train], y[:n_train], 2, budget, seed)
    accuracy = _accuracy(model, X[n_train:], y[n_train:])
    print(
        f"\nInterpretTime (Serramazza et al. 2024 protocol): ResNet filters {budget['filters']}, "
        f"{n_train} training cases, {budget['epochs']} epochs (Adam, lr 1e-3, batch 32) in "
        f"{seconds:.0f} s; test accuracy {accuracy:.3f} (published {PUBLISHED_ACCURACY})",
        flush=True,
    )
    rows = _score_methods(model, X[n_train:], y[n_train:], mask[n_train:], budget, seed)
    _print_table(f"Localization on {n_test} test cases (target = true class)", rows, PUBLISHED)
    cumulative_table(model, X[n_train:], y[n_train:], seed)


#: The methods TIMING's CPD tables list that chronolens has (Jang, Kim, Yang 2025).
CUMULATIVE_METHODS = ("integrated_gradients", "gradient_shap", "timing")


def cumulative_table(model: torch.nn.Module, X: np.ndarray, y: np.ndarray, seed: int) -> None:
    """CPD and CPP (TIMING's metrics, their code's choices) of IG, GradientSHAP and TIMING.

    Protocol-matched: the metric (softmax of every class, absolute ranks, zero baseline, the
    top-K points with K = 50 and 100, as their experiments), the methods' defaults (TIMING: 50
    steps, 50 segments, lengths 10 to the series; the maps taken absolute as their evaluation
    does). Not matched: their data (MIMIC-III and other clinical sets, 48 points) and models; here
    the InterpretTime ResNet above, 8 channels x 500 points.
    """
    rng = np.random.default_rng(seed)
    print(f"\nCPD / CPP on {len(X)} InterpretTime test cases (higher CPD, lower CPP is better)")
    print("| method | CPD@50 | CPD@100 | CPP@50 | CPP@100 | s/case |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in (*CUMULATIVE_METHODS, "random"):
        start = time.perf_counter()
        if name == "random":
            exp = cl.Explanation(
                x=X,
                attributions=rng.random(X.shape).astype(np.float32),
                target=y,
                scores=np.zeros((len(X), 1)),
                method="random",
            )
        else:
            exp = cl.explain(model, X, name, target=y, seed=seed, progress=False)
        seconds = (time.perf_counter() - start) / len(X)
        values = [float(np.mean(f(model, exp, n_points=k))) for f in (cpd, cpp) for k in (50, 100)]
        cells = " | ".join(f"{v:.4f}" for v in values)
        print(f"| {name} | {cells} | {seconds:.4f} |", flush=True)


def dcam_protocol(budget: dict[str, Any], seed: int) -> None:
    for number in (1, 2):
        n_train, n_test, dims = budget["dcam_train"], budget["dcam_test"], budget["dcam_dims"]
        X, y, mask = make_dcam(
            f"type{number}", dims, n_train + n_test, amplitude=DCAM_AMPLITUDE, seed=seed
        )
        model, seconds = _train(X[:n_train], y[:n_train], 2, budget, seed)
        accuracy = _accuracy(model, X[n_train:], y[n_train:])
        dmodel = zoo.dcnn(dims, 2, filters=budget["dcam_filters"], seed=seed)
        start = time.perf_counter()
        zoo.fit(
            dmodel, X[:n_train], y[:n_train], epochs=budget["epochs"], seed=seed, progress=False
        )
        d_seconds = time.perf_counter() - start
        d_accuracy = _accuracy(dmodel.eval(), X[n_train:], y[n_train:])
        print(
            f"\ndCAM Type {number} (protocol-matched, BasicMotions patterns, amplitude "
            f"{DCAM_AMPLITUDE}), {dims} dimensions, {n_train} training cases: ResNet trained in "
            f"{seconds:.0f} s, test accuracy {accuracy:.3f}; dCNN {budget['dcam_filters']} "
            f"trained in {d_seconds:.0f} s, test accuracy {d_accuracy:.3f}",
            flush=True,
        )
        test = (X[n_train:], y[n_train:], mask[n_train:])
        rows = _score_methods(model, *test, budget, seed)
        rows += _score_methods(
            dmodel,
            *test,
            budget,
            seed,
            names=["dcam", "saliency", "integrated_gradients"],
            label=" (dCNN)",
        )
        _print_table(f"Localization on {n_test} test cases (target = true class)", rows, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small budget (minutes)")
    size.add_argument("--medium", action="store_true", help="medium budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", choices=["interpret_time", "dcam"], help="run one of the two protocols"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--methods", help="comma-separated methods to score (default: every registered one)"
    )
    parser.add_argument(
        "--test-cases", type=int, help="test cases explained (overrides the budget)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = "quick" if args.quick else "medium" if args.medium else "full"
    budget = dict(BUDGETS[name])
    if args.methods:
        budget["methods"] = [m.strip() for m in args.methods.split(",")]
        unknown = set(budget["methods"]) - set(cl.methods().names())
        if unknown:
            parser.error(f"unknown methods {sorted(unknown)}; see chronolens.methods()")
    if args.test_cases:
        budget["test"] = budget["dcam_test"] = args.test_cases
    print(f"chronolens quality benchmark, budget {name!r}, torch {torch.__version__}", flush=True)
    start = time.perf_counter()
    if args.only != "dcam":
        serramazza(budget, args.seed)
    if args.only != "interpret_time":
        dcam_protocol(budget, args.seed)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
