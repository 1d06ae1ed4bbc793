"""``chronolens demo``: train the user's architecture, explain it with every method, measure."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chronolens._explain import explain
from chronolens.registry import get_method, methods

# methods shown side by side in the demo's report.html (those that are registered)
REPORT_METHODS = ("grad_cam", "channel_grad_cam", "integrated_gradients", "smoothgrad", "occlusion")

# Methods side by side in sensor_events_comparison.png (one figure per method is written too).
COMPARED = (
    "saliency",
    "integrated_gradients",
    "occlusion",
    "shapley",
    "grad_cam",
    "channel_grad_cam",
)

# Every registered method runs; the costly ones with settings that keep the demo under a minute.


def _train(
    name: str,
    build: Callable[[], Any],
    data: Any,
    test: Any,
    epochs: int,
    say: Callable[[str], None],
) -> Any:
    from chronolens import zoo

    model = build()
    start = time.perf_counter()
    zoo.fit(
        model, data.X, data.y, epochs=epochs, lr=2e-3, weight_decay=1e-3, seed=0, progress=False
    )
    accuracy = zoo.accuracy(model, test.X, test.y)
    say(f"{name}: trained in {time.perf_counter() - start:.1f} s, test accuracy {accuracy:.2f}")
    return model


#: Families that read a head built for them (``zoo.mil``, ``zoo.attention_rnn``), not a plain CNN.
_NEEDS_ITS_OWN_HEAD = ("self_explaining", "attention")


def demo_methods() -> list[str]:
    """The registered methods that apply to the demo's CNN (Conv1d x 2, Flatten, Dense).

    Left out: ``cam`` (the network ends in Flatten + Dense, not global average pooling),
    methods reading dimension-wise networks (``dcam``: ``zoo.dcnn``), and the methods of models
    that explain themselves (``mil``, ``attention``), which need their own heads.
    """
    names = []
    for name in methods().names():
        spec = get_method(name)
        if name == "cam" or spec.layer_rank == 4 or spec.family in _NEEDS_ITS_OWN_HEAD:
            continue
        names.append(name)
    return names


def _sensor_events(
    out: Path, n_explain: int, quiet: bool, say: Callable[[str], None]
) -> tuple[list[dict[str, Any]], float]:
    """The user's architecture on make_sensor_events: every method, figures, the report."""
    from chronolens import zoo
    from chronolens.datasets import make_sensor_events
    from chronolens.metrics import average_precision_score
    from chronolens.plot import plot_comparison
    from chronolens.reporting.build import report

    events = make_sensor_events(n_cases=800, seed=0)
    train, test = events.subset(slice(0, 600)), events.subset(slice(600, None))
    model = _train(
        "sensor events, Conv1d(128, 9) x 2 + Dense",
        lambda: zoo.conv1d_classifier(9, 300, events.n_classes, seed=0),
        train,
        test,
        epochs=12,
        say=say,
    )
    cases = test.subset(slice(0, n_explain))
    assert cases.mask is not None  # sensor events carry their ground-truth mask
    rows = []
    explanations = {}
    for name in demo_methods():
        start = time.perf_counter()
        exp = explain(
            model,
            cases.X,
            name,
            progress=False if quiet else None,
            channel_names=events.channel_names,
            class_names=events.class_names,
            seed=0,
            **get_method(name).demo_params,
        )
        seconds = (time.perf_counter() - start) / len(cases.X)
        ap = float(np.nanmean(average_precision_score(exp, cases.mask)))
        rows.append(
            {
                "data": "sensor_events",
                "method": name,
                "seconds_per_case": seconds,
                "average_precision": ap,
            }
        )
        explanations[name] = exp
        exp.plot(0).savefig(out / f"sensor_events_{name}.png", dpi=72)
    shown = {name: explanations[name] for name in COMPARED if name in explanations}
    plot_comparison(shown, 0).savefig(out / "sensor_events_comparison.png", dpi=80)
    report_start = time.perf_counter()
    report(
        model,
        cases.X,
        y=cases.y,
        explanations=[explanations[name] for name in REPORT_METHODS if name in explanations],
        out=out / "report.html",
        metric_cases=8,
        sanity=["grad_cam", "saliency"],  # the randomization test re-explains once per layer
        title="chronolens demo: sensor events",
    )
    say(f"report.html written in {time.perf_counter() - report_start:.1f} s")
    chance = float(cases.mask.mean())

    return rows, chance


def _basic_motions(out: Path, quiet: bool, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """An FCN on BasicMotions: the CAM family and gradients side by side."""
    from chronolens import zoo
    from chronolens.datasets import load_basic_motions
    from chronolens.plot import plot_comparison

    rows = []
    motions_train, motions_test = load_basic_motions("train"), load_basic_motions("test")
    fcn = _train(
        "BasicMotions, FCN",
        lambda: zoo.fcn(6, 4, filters=(32, 64, 32), seed=0),
        motions_train,
        motions_test,
        epochs=40,
        say=say,
    )
    compared = {}
    for name in ("cam", "grad_cam", "integrated_gradients", "smoothgrad"):
        start = time.perf_counter()
        exp = explain(
            fcn,
            motions_test.X,
            name,
            progress=False if quiet else None,
            channel_names=motions_test.channel_names,
            class_names=motions_test.class_names,
            seed=0,
            **get_method(name).demo_params,
        )
        rows.append(
            {
                "data": "basic_motions",
                "method": name,
                "seconds_per_case": (time.perf_counter() - start) / len(motions_test.X),
                "average_precision": float("nan"),
            }
        )
        compared[name] = exp
    plot_comparison(compared, 0).savefig(out / "basic_motions_comparison.png", dpi=80)

    return rows


def run_demo(
    out: str | Path = "demo-output", *, quiet: bool = False, n_explain: int = 32
) -> list[dict[str, Any]]:
    """Train, explain with every method, write figures and return one row per method.

    Writes into ``out``: ``sensor_events_<method>.png`` (one case, every method),
    ``sensor_events_comparison.png`` (six methods side by side),
    ``basic_motions_comparison.png``, ``report.html`` (the sensor-events cases, see
    :func:`chronolens.report`), and prints a table of seconds per case and average
    precision against the planted mask.
    """
    import torch

    warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")
    say = (lambda _message: None) if quiet else print
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    started = time.perf_counter()

    rows, chance = _sensor_events(out, n_explain, quiet, say)
    rows += _basic_motions(out, quiet, say)
    say("")
    say(f"{'data':<15}{'method':<22}{'s / case':>10}{'AP vs mask':>12}")
    for row in rows:
        ap = "" if np.isnan(row["average_precision"]) else f"{row['average_precision']:.3f}"
        say(f"{row['data']:<15}{row['method']:<22}{row['seconds_per_case']:>10.4f}{ap:>12}")
    say(f"(a random map scores about {chance:.3f} average precision on sensor_events)")
    say(f"figures in {out}/; total {time.perf_counter() - started:.1f} s")
    return rows
