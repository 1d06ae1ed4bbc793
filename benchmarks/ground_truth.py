"""Ground-truth benchmark: the field's public synthetic sets, scored as their authors do

1. HMM "State" (Dynamask / time_interpret) and "Switch-Feature" (FIT / ContraLSP): online tasks,
   a label at every step. time_interpret's classifier (one GRU layer, BatchNorm / ReLU / Dropout /
   Linear on the last hidden state) trained on random truncations ``x[..., :t+1] -> label[t]``;
   maps by their ``TimeForwardTunnel`` (for each step t: explain ``x[..., :t+1]`` for the class
   predicted at t, keep column t, absolute values); AUP, AUR and AUROC as ``tint.metrics.white_box``
   (per-case min-max with EPS 1e-5, all points pooled). Published: TIMING (Jang et al. 2025),
   Table 4 (GRU, 5 folds).
2. TimeX's FreqShapes, SeqComb-UV, SeqComb-MV and LowVar (Queen et al. 2023): a CNN
   (``zoo.resnet``) explained for the true class; AUPRC, AUP and AUR as TimeX's
   ``ground_truth_xai_eval`` (per case: min-max with 1e-9, the map as the method returns it, one
   curve per case, averaged), on the cases its evaluation keeps (SeqComb and LowVar: class 0
   dropped). Published AUPRC: TimeX++ (Liu et al. 2024), Table II.

Methods come from ``chronolens.methods()`` at run time (CAM methods only where the network has
convolutions); a random map (uniform noise) is the reference.

    python benchmarks/ground_truth.py --quick     # minutes on 2 CPU cores
    python benchmarks/ground_truth.py --medium    # ~30-60 minutes on 2 CPU cores
    python benchmarks/ground_truth.py             # the papers' sizes (many hours on CPU)
    python benchmarks/ground_truth.py --quick --sets state,freq_shapes --methods saliency,lime
"""

from __future__ import annotations

import argparse
import re
import time
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score
from torch import nn

import chronolens as cl
from chronolens import datasets, zoo

# fmt: off
HMM_SETS = {"state": "make_state", "switch_feature": "make_switch_feature"}
TIMEX_SETS = {"freq_shapes": "make_freq_shapes", "seqcomb_uv": "make_seqcomb_uv",
              "seqcomb_mv": "make_seqcomb_mv", "lowvar": "make_lowvar"}
#: TimeX's evaluation drops class 0 on these sets (saliency_exp_synth.py: ``y != 0``).
DROPS_CLASS_0 = {"seqcomb_uv", "seqcomb_mv", "lowvar"}
#: AUP / AUR, TIMING Table 4 (GRU); methods chronolens lacks go in the notes.
PUBLISHED_HMM = {
    "switch_feature": {"extremal_mask": ".978 / .745", "timing": ".926 / .434"},
    "state": {"lime": ".944 / - (best AUP)", "deeplift": ".926 / -"},
}
NOTES_HMM = {"switch_feature": "published, not in chronolens: ContraLSP .970 / .851",
             "state": "published, not in chronolens: FIT, best AUR .607"}
#: AUPRC of integrated gradients, TimeX++ Table II (extended version); none here for LowVar.
PUBLISHED_TIMEX = {"freq_shapes": ".752", "seqcomb_uv": ".576", "seqcomb_mv": ".330"}
NOTES_TIMEX = {"freq_shapes": "TimeX++ .891, TimeX .832", "seqcomb_uv": "TimeX++ .847, TimeX .712",
               "seqcomb_mv": "TimeX++ .759, TimeX .688"}
LEARNED_MASKS = ("dynamask", "extremal_mask")
#: time_interpret's DynaMask settings for the HMM (main.py); the epochs are the budget's.
DYNAMASK_HMM = {"perturbation": "gaussian_blur", "sigma_max": 1.0, "size_reg_factor_init": 0.1,
                "size_reg_factor_dilation": 100, "time_reg_factor": 1.0}

BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {
        "hmm_train": 400, "hmm_test": 20, "hidden": 64, "hmm_epochs": 30, "hmm_lr": 1e-3,
        "steps": 10, "mask_steps": 10,
        "timex_train": 1000, "timex_test": 30, "timex_epochs": 10, "filters": (32, 64, 64),
        "params": {"shapley": {"n_samples": 128}, "lime": {"n_samples": 128},
                   "dynamask": {"n_steps": 100}, "extremal_mask": {"n_steps": 30}},
    },
    "medium": {
        "hmm_train": 800, "hmm_test": 50, "hidden": 200, "hmm_epochs": 50, "hmm_lr": 1e-3,
        "steps": 20, "mask_steps": 10,
        "timex_train": 3000, "timex_test": 100, "timex_epochs": 20, "filters": (32, 64, 64),
        "params": {"shapley": {"n_samples": 512}, "lime": {"n_samples": 512},
                   "dynamask": {"n_steps": 300, "keep_ratio": [0.25, 0.3, 0.35]},
                   "extremal_mask": {"n_steps": 300}},
    },
    "full": {  # the papers: 800 / 200 HMM series, lr 1e-4, 50 epochs; TimeX 5,000 / 1,000
        "hmm_train": 800, "hmm_test": 200, "hidden": 200, "hmm_epochs": 50, "hmm_lr": 1e-4,
        "steps": None, "mask_steps": 20,
        "timex_train": 5000, "timex_test": 1000, "timex_epochs": 50, "filters": (64, 128, 128),
        "params": {"dynamask": {"n_steps": 1000, "keep_ratio": list(np.arange(0.25, 0.35, 0.01))}},
    },
}
# fmt: on


class StateClassifier(nn.Module):
    """time_interpret's HMM classifier, fed chronolens' channels-first ``(n, channels, time)``."""

    def __init__(self, n_channels: int, n_classes: int, hidden: int, dropout: float = 0.5):
        super().__init__()
        self.rnn = nn.GRU(n_channels, hidden, batch_first=True)
        self.regressor = nn.Sequential(
            nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, last = self.rnn(x.transpose(1, 2))
        return self.regressor(last[-1])

    def every_step(self, x: torch.Tensor) -> torch.Tensor:
        """The output at every step: that of ``forward(x[..., :t+1])`` (the GRU is causal)."""
        states, _ = self.rnn(x.transpose(1, 2))
        n, length, width = states.shape
        return self.regressor(states.reshape(n * length, width)).reshape(n, length, -1)


def pr_areas(truth: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """Area under the precision and the recall curves over the thresholds (tint, TimeX)."""
    precision, recall, thresholds = precision_recall_curve(truth, score)
    if len(thresholds) < 2:
        return 0.0, 0.0
    return float(auc(thresholds, precision[:-1])), float(auc(thresholds, recall[:-1]))


def tint_scores(attributions: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """AUP, AUR, AUROC as tint.metrics.white_box: per-case min-max, every point pooled."""
    flat = attributions.reshape(len(attributions), -1)
    low, high = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    score = ((flat - low) / (high - low + 1e-5)).ravel()
    truth = mask.reshape(len(mask), -1).ravel().astype(int)
    return (*pr_areas(truth, score), float(roc_auc_score(truth, score)))


def timex_scores(attributions: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """AUPRC, AUP, AUR as TimeX's ground_truth_xai_eval: one curve per case, averaged."""
    rows = []
    for case, truth in zip(attributions, mask):
        score = ((case - case.min()) / (case.max() - case.min() + 1e-9)).ravel()
        truth = truth.ravel().astype(int)
        rows.append((average_precision_score(truth, score), *pr_areas(truth, score)))
    return tuple(float(v) for v in np.mean(rows, axis=0))  # type: ignore[return-value]


def _check_metrics() -> None:
    truth, score = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    assert np.allclose(pr_areas(truth, score), (0.475, 0.4875))


def _accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    with torch.inference_mode():
        scores = torch.cat([model(torch.from_numpy(X[i : i + 256])) for i in range(0, len(X), 256)])
    return float((scores.argmax(1).numpy() == y).mean())


def _train_gru(X: np.ndarray, labels: np.ndarray, budget: dict[str, Any], seed: int):
    """time_interpret's ``step``: each batch cut at a random t, the loss on the label at t."""
    torch.manual_seed(seed)
    model = StateClassifier(X.shape[1], int(labels.max()) + 1, budget["hidden"])
    optimizer = torch.optim.Adam(model.parameters(), lr=budget["hmm_lr"], weight_decay=1e-3)
    rng = np.random.default_rng(seed)
    x, y = torch.from_numpy(X), torch.from_numpy(labels)
    model.train()
    for _ in range(budget["hmm_epochs"]):
        order = rng.permutation(len(X))
        for start in range(0, len(X) - 1, 32):  # batch 32 (tint's default); no batch of one
            batch, t = order[start : start + 32], int(rng.integers(X.shape[-1]))
            loss = nn.functional.cross_entropy(model(x[batch, :, : t + 1]), y[batch, t])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def _method_names(budget: dict[str, Any], convolutional: bool) -> list[str]:
    """Registered methods that read this kind of network (architecture-bound ones left out)."""
    names = []
    for name in cl.methods().names():
        spec = cl.registry.get_method(name)
        if spec.layer_rank != 3 or spec.family in ("self_explaining", "attention"):
            continue  # dcam, mil, attention need zoo.dcnn / zoo.mil / zoo.attention_rnn
        if spec.family == "cam" and not convolutional:
            continue
        names.append(name)
    chosen = budget.get("methods")
    return [n for n in names if not chosen or n in chosen] + ["random"]


def _hmm_params(name: str, length: int, budget: dict[str, Any]) -> dict[str, Any]:
    params = dict(DYNAMASK_HMM) if name == "dynamask" else {}
    params.update(budget["params"].get(name, {}))
    if name in ("lime", "shapley", "feature_ablation"):
        params["n_segments"] = min(params.get("n_segments", 10), length)
    if name == "occlusion":  # time_interpret: sliding_window_shapes=(1,)
        params.update(window=1, stride=1)
    if name == "timing":
        params["min_length"] = min(params.get("min_length", 10), length)
    return params


def _explain(model, X, name, target, params, notes: list[str], seed: int) -> np.ndarray:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exp = cl.explain(model, X, name, target=target, seed=seed, progress=False, **params)
    for warning in caught[:1]:
        text = "warns: " + re.split(r" for \d| \(|: ", str(warning.message))[0][:60]
        shape = re.sub(r"\d+", "#", text)  # one note per kind of warning, whatever its numbers
        if all(re.sub(r"\d+", "#", note) != shape for note in notes):
            notes.append(text)
    return np.asarray(exp.attributions, dtype=np.float64)


def _steps(length: int, count: int | None) -> np.ndarray:
    if count is None or count >= length:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, count).round().astype(int))


def _time_forward(model, X, name, predicted, steps, budget, notes, seed) -> np.ndarray:
    """time_interpret's TimeForwardTunnel: column t of the map of ``x[..., :t+1]``, absolute."""
    columns = []
    for t in steps:
        params = _hmm_params(name, int(t) + 1, budget)
        target = predicted[:, t]
        attributions = _explain(model, X[..., : t + 1], name, target, params, notes, seed)
        columns.append(np.abs(attributions[..., t]))
    return np.stack(columns, axis=-1)


def _rows(names, run, score, published: dict[str, str], n_cases: int) -> list[list[str]]:
    """One table row per method: ``run(name, notes)`` makes the maps, ``score`` rates them."""
    rows = []
    for name in names:
        notes: list[str] = []
        start = time.perf_counter()
        try:
            attributions = run(name, notes)
        except Exception as error:  # a method that does not apply to this model
            message = f"error: {type(error).__name__}: {error}"[:80]
            rows.append([name, "-", "-", "-", "-", published.get(name, ""), message])
        else:
            seconds = (time.perf_counter() - start) / n_cases
            values = [f"{v:.3f}" for v in score(name, attributions)]
            rows.append(
                [name, f"{seconds:.4f}", *values, published.get(name, ""), "; ".join(notes)]
            )
        print("  ", *rows[-1], flush=True)
    return rows


def hmm_protocol(key: str, budget: dict[str, Any], seed: int) -> None:
    n_train, n_test = budget["hmm_train"], budget["hmm_test"]
    data = getattr(datasets, HMM_SETS[key])(n_train + n_test, seed=seed)
    X, labels, mask = data.X, data.step_labels, data.mask
    start = time.perf_counter()
    model = _train_gru(X[:n_train], labels[:n_train], budget, seed)
    seconds = time.perf_counter() - start
    X_test, mask_test = X[n_train:], mask[n_train:]
    with torch.inference_mode():
        predicted = model.every_step(torch.from_numpy(X_test)).argmax(-1).numpy()
    every = (predicted == labels[n_train:]).mean()
    last = (predicted[:, -1] == data.y[n_train:]).mean()
    length = X.shape[-1]
    steps, mask_steps = _steps(length, budget["steps"]), _steps(length, budget["mask_steps"])
    print(
        f"\n{data.name}: {X.shape[1]} channels x {length} steps; GRU hidden {budget['hidden']}, "
        f"{n_train} training series, {budget['hmm_epochs']} epochs (Adam, lr {budget['hmm_lr']}, "
        f"weight decay 1e-3) in {seconds:.0f} s; test accuracy {every:.3f} over all steps, "
        f"{last:.3f} at the last step",
        flush=True,
    )
    rng = np.random.default_rng(seed)

    def run(name: str, notes: list[str]) -> np.ndarray:
        use = mask_steps if name in LEARNED_MASKS else steps
        if name == "random":
            return rng.random((*X_test.shape[:2], len(use)))
        return _time_forward(model, X_test, name, predicted, use, budget, notes, seed)

    def score(name: str, attributions: np.ndarray) -> tuple[float, ...]:
        return tint_scores(
            attributions, mask_test[..., mask_steps if name in LEARNED_MASKS else steps]
        )

    names = _method_names(budget, convolutional=False)
    rows = _rows(names, run, score, PUBLISHED_HMM[key], n_test)
    header = ["method", "s/case", "AUP", "AUR", "AUROC", "published AUP / AUR", "note"]
    _print_table(f"{data.name}: {n_test} test series (TimeForwardTunnel, |map|)", header, rows)
    dyna, extremal = _hmm_params("dynamask", 1, budget), _hmm_params("extremal_mask", 1, budget)
    print(
        f"Steps explained: {len(steps)} of {length} (learned masks: {len(mask_steps)}), evenly "
        "spaced from the first, each a fresh explanation of its prefix for the class predicted "
        "there; the scores pool those columns. The papers fit one learned mask to the whole "
        "series against every step's output; chronolens explains one output, so each step gets "
        f"its own mask (dynamask: time_interpret's settings, {dyna.get('n_steps', 500)} steps, "
        f"keep ratio {np.round(dyna.get('keep_ratio', 0.5), 2).tolist()}; extremal_mask: "
        f"{extremal.get('n_steps', 500)} steps, lambdas 1 / 1). {NOTES_HMM[key]}."
    )


def _train_cnn(X: np.ndarray, y: np.ndarray, budget: dict[str, Any], seed: int):
    model = zoo.resnet(X.shape[1], int(y.max()) + 1, filters=budget["filters"], seed=seed)
    start = time.perf_counter()
    zoo.fit(model, X, y, epochs=budget["timex_epochs"], lr=1e-3, seed=seed, progress=False)
    return model.eval(), time.perf_counter() - start


def timex_protocol(key: str, budget: dict[str, Any], seed: int) -> None:
    n_train, n_test = budget["timex_train"], budget["timex_test"]
    extra = n_test // 3 if key in DROPS_CLASS_0 else 0  # class 0 is a quarter of the cases
    data = getattr(datasets, TIMEX_SETS[key])(n_train + n_test + extra, seed=seed)
    X, y, mask = data.X, data.y, data.mask
    model, seconds = _train_cnn(X[:n_train], y[:n_train], budget, seed)
    accuracy = _accuracy(model, X[n_train:], y[n_train:])
    keep = (y[n_train:] != 0) if key in DROPS_CLASS_0 else np.ones(len(X) - n_train, bool)
    keep[np.flatnonzero(keep)[n_test:]] = False
    chosen = int(keep.sum())
    keep &= mask[n_train:].reshape(len(keep), -1).any(1)  # none left out on these sets
    X_test, y_test, mask_test = X[n_train:][keep], y[n_train:][keep], mask[n_train:][keep]
    print(
        f"\n{data.name}: {X.shape[1]} channel(s) x {X.shape[-1]} points; ResNet filters "
        f"{budget['filters']}, {n_train} training cases, {budget['timex_epochs']} epochs (Adam, "
        f"lr 1e-3, batch 32) in {seconds:.0f} s; test accuracy {accuracy:.3f} (all classes)",
        flush=True,
    )
    rng = np.random.default_rng(seed)

    def run(name: str, notes: list[str]) -> np.ndarray:
        if name == "random":
            return rng.random(X_test.shape)
        params = dict(budget["params"].get(name, {}))
        if cl.registry.get_method(name).needs_layer:  # the last block, as in quality.py
            params["layer"] = f"blocks.{len(budget['filters']) - 1}"
        if not cl.registry.get_method(name).per_channel:
            notes.append("shared map")
        attributions = _explain(model, X_test, name, y_test, params, notes, seed)
        return np.broadcast_to(attributions, X_test.shape)

    names = _method_names(budget, convolutional=True)
    published = {"integrated_gradients": PUBLISHED_TIMEX[key]} if key in PUBLISHED_TIMEX else {}
    rows = _rows(names, run, lambda _, a: timex_scores(a, mask_test), published, len(X_test))
    header = ["method", "s/case", "AUPRC", "AUP", "AUR", "published AUPRC", "note"]
    dropped = "class 0 dropped as TimeX does; " if key in DROPS_CLASS_0 else ""
    _print_table(
        f"{data.name}: {len(X_test)} test cases ({dropped}target = true class)", header, rows
    )
    if chosen > len(X_test):
        print(f"{chosen - len(X_test)} chosen cases had an empty mask and were left out.")
    if key in NOTES_TIMEX:
        print(f"Published (Transformer), not in chronolens: {NOTES_TIMEX[key]}.")


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small budget (~10 minutes)")
    size.add_argument("--medium", action="store_true", help="medium budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", help=f"comma-separated, of {[*HMM_SETS, *TIMEX_SETS]}")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--methods", help="comma-separated methods (default: every one)")
    parser.add_argument("--test-cases", type=int, help="test cases explained (overrides)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _check_metrics()
    name = "quick" if args.quick else "medium" if args.medium else "full"
    budget = dict(BUDGETS[name])
    if args.methods:
        budget["methods"] = [m.strip() for m in args.methods.split(",")]
        unknown = set(budget["methods"]) - set(cl.methods().names()) - {"random"}
        if unknown:
            parser.error(f"unknown methods {sorted(unknown)}; see chronolens.methods()")
    if args.test_cases:
        budget["hmm_test"] = budget["timex_test"] = args.test_cases
    sets = [s.strip() for s in args.sets.split(",")] if args.sets else [*HMM_SETS, *TIMEX_SETS]
    unknown = set(sets) - {*HMM_SETS, *TIMEX_SETS}
    if unknown:
        parser.error(f"unknown sets {sorted(unknown)}")
    print(f"chronolens ground-truth benchmark, budget {name!r}, torch {torch.__version__}")
    start = time.perf_counter()
    for key in sets:
        (hmm_protocol if key in HMM_SETS else timex_protocol)(key, budget, args.seed)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
