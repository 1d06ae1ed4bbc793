"""MILLET's WebTraffic interpretability benchmark (Early et al., ICLR 2024) on chronolens.

Trains FCN and ResNet (``chronolens.zoo``) on :func:`chronolens.datasets.make_webtraffic` as
GAP + CAM and, when ``chronolens.zoo.mil`` is available, with each MIL pooling; then prints, per
row, test accuracy, AOPCR (predicted-class map, :func:`chronolens.metrics.aopcr`), NDCG@n
(true-class map, :func:`chronolens.metrics.ndcg_at_n`) and chronolens average precision of the
true-class map against the mask, next to MILLET's published values (5-model ensembles), with
the seconds each row took. Single models are trained here, not ensembles.

Run: ``.venv/bin/python benchmarks/millet.py --budget quick [--backbones fcn] [--gap-only]``
(``--budget medium`` for a longer budget; ``--quick`` / ``--medium`` are the same options;
MILLET's own: 500 + 500 cases, 1,500 epochs).
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import numpy as np
import torch

import chronolens as cl
from chronolens import zoo
from chronolens.datasets import make_webtraffic
from chronolens.metrics import aopcr, average_precision_score, ndcg_at_n

# budget -> (training cases, test cases, epochs)
BUDGETS = {"quick": (200, 50, 15), "medium": (500, 500, 100)}
POOLINGS = ("instance", "additive", "conjunctive")
# (backbone, head) -> (AOPCR, NDCG@n), MILLET Table 2 / 8, WebTraffic, 5-model ensembles
PUBLISHED = {
    ("fcn", "gap"): (12.780, 0.532),
    ("fcn", "instance"): (12.841, 0.540),
    ("fcn", "additive"): (14.522, 0.532),
    ("fcn", "conjunctive"): (13.221, 0.539),
    ("resnet", "gap"): (20.995, 0.582),
    ("resnet", "instance"): (23.090, 0.584),
    ("resnet", "additive"): (24.880, 0.589),
    ("resnet", "conjunctive"): (24.597, 0.591),
}


def _model(backbone: str, head: str, n_classes: int, seed: int) -> Any:
    net: Any = (zoo.fcn if backbone == "fcn" else zoo.resnet)(1, n_classes, seed=seed)
    if head == "gap":
        return net
    features = net.blocks if backbone == "resnet" else net[:-3]  # drop GAP, flatten, linear
    return zoo.mil(features, n_classes, pooling=head, seed=seed)


def _row(backbone: str, head: str, data: tuple[Any, ...], epochs: int) -> dict[str, Any]:
    X_train, y_train, X_test, y_test, mask = data
    start = time.perf_counter()
    model = _model(backbone, head, 10, seed=0)
    zoo.fit(model, X_train, y_train, epochs=epochs, seed=0, progress=False)
    trained = time.perf_counter() - start
    method = "cam" if head == "gap" else "mil"
    predicted = cl.explain(model, X_test, method, progress=False)
    true = cl.explain(model, X_test, method, target=y_test, progress=False)
    return {
        "row": f"{backbone} {'GAP + CAM' if head == 'gap' else 'MIL ' + head}",
        "accuracy": float(zoo.accuracy(model, X_test, y_test)),
        "aopcr": float(np.mean(aopcr(model, X_test, predicted))),
        "ndcg": float(np.nanmean(ndcg_at_n(true, mask))),
        "ap": float(np.nanmean(average_precision_score(true, mask))),
        "published": PUBLISHED[(backbone, head)],
        "train_s": trained,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget", choices=sorted(BUDGETS), help="default: quick")
    budget.add_argument("--quick", action="store_const", dest="budget", const="quick")
    budget.add_argument("--medium", action="store_const", dest="budget", const="medium")
    parser.add_argument("--backbones", nargs="+", default=["fcn", "resnet"])
    parser.add_argument("--gap-only", action="store_true", help="skip the MIL rows")
    parser.add_argument("--poolings", nargs="+", default=list(POOLINGS), choices=POOLINGS)
    parser.add_argument("--mil-only", action="store_true", help="skip the GAP + CAM rows")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    n_train, n_test, epochs = BUDGETS[args.budget or "quick"]
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Using padding='same'")
    train = make_webtraffic(n_train, seed=0)
    test = make_webtraffic(n_test, seed=1)
    data = (train.X, train.y, test.X, test.y, test.mask)
    heads = ([] if args.mil_only else ["gap"]) + ([] if args.gap_only else args.poolings)
    print(
        f"budget {args.budget or 'quick'}: {n_train} train / {n_test} test cases, {epochs} epochs; "
        f"single models (MILLET's values: 5-model ensembles); torch {torch.__version__}, "
        f"{args.threads} threads"
    )
    print(
        "| model | accuracy | AOPCR | NDCG@n | AP (mask) | MILLET AOPCR / NDCG@n (ensembles) "
        "| seconds |"
    )
    print("|---|---|---|---|---|---|---|")
    for backbone in args.backbones:
        for head in heads:
            r = _row(backbone, head, data, epochs)
            pub = r["published"]
            print(
                f"| {r['row']} | {r['accuracy']:.3f} | {r['aopcr']:.3f} | {r['ndcg']:.3f} | "
                f"{r['ap']:.3f} | {pub[0]:.3f} / {pub[1]:.3f} | {r['seconds']:.0f} "
                f"(train {r['train_s']:.0f}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
