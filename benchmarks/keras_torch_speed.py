#!/usr/bin/env python
"""Keras 3 on the torch backend against the same network in plain torch, one process.

The question's network twice, with the same weights: a Keras model (Conv1D(128, 9) -> BN ->
ReLU -> MaxPool(5), twice, Flatten -> Dense; channels last) on ``KERAS_BACKEND=torch``, and
``chronolens.zoo.conv1d_classifier`` with the Keras weights copied in (channels first). Each
method explains both on the same cases (``layout="nlc"`` for Keras), alternating, for
``--rounds`` interleaved rounds; the script prints the median seconds, the ratio (Keras seconds /
torch seconds: at or below 1 means the Keras path costs nothing), and the largest difference
between the two maps (the same network, so they must agree). Keras models run on their
plain-torch twin by default; the ``twin=False`` column calls the Keras layers, as before the
twin (and as models the twin does not reproduce still run).

    python benchmarks/keras_torch_speed.py            # 2, 64, 256 cases at 300 points
    python benchmarks/keras_torch_speed.py --quick    # 2 and 64 cases
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ["KERAS_BACKEND"] = "torch"

import keras
import numpy as np
import torch

import chronolens as cl
from chronolens import zoo
from chronolens.models.keras import KerasTorchModel

METHODS = {
    "saliency": {},
    "integrated_gradients": {"n_steps": 32},
    "grad_cam": {},
    "occlusion": {"window": 15, "stride": 15},
}
LAYERS = {"keras": "relu1", "torch": "5"}  # the second ReLU in each


def build_keras(n_timepoints: int) -> keras.Model:
    inputs = keras.Input((n_timepoints, 9))
    h = inputs
    for i in range(2):
        h = keras.layers.Conv1D(128, 9, name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
        h = keras.layers.MaxPooling1D(5, name=f"pool{i}")(h)
    outputs = keras.layers.Dense(4, name="fc")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    for i in range(2):  # non-trivial normalisation statistics, as after training
        bn = model.get_layer(f"bn{i}")
        gamma, beta, _, _ = bn.get_weights()
        bn.set_weights([gamma, beta, rng.uniform(-0.5, 0.5, 128), rng.uniform(0.5, 2.0, 128)])
    return model


def torch_twin(model: keras.Model, n_timepoints: int) -> torch.nn.Module:
    """The same network in plain torch, channels first, with the Keras weights."""
    twin = zoo.conv1d_classifier(9, n_timepoints, 4, seed=0).eval()
    convs = [m for m in twin.modules() if isinstance(m, torch.nn.Conv1d)]
    norms = [m for m in twin.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    (linear,) = [m for m in twin.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for i in range(2):
            kernel, bias = model.get_layer(f"conv{i}").get_weights()  # (k, in, out)
            convs[i].weight.copy_(torch.from_numpy(kernel.transpose(2, 1, 0)))
            convs[i].bias.copy_(torch.from_numpy(bias))
            gamma, beta, mean, var = model.get_layer(f"bn{i}").get_weights()
            norms[i].weight.copy_(torch.from_numpy(gamma))
            norms[i].bias.copy_(torch.from_numpy(beta))
            norms[i].running_mean.copy_(torch.from_numpy(mean))
            norms[i].running_var.copy_(torch.from_numpy(var))
            norms[i].eps = model.get_layer(f"bn{i}").epsilon
        kernel, bias = model.get_layer("fc").get_weights()  # (features in (t, c) order, 4)
        length = kernel.shape[0] // 128
        # Keras flattens (t, c); torch flattens (c, t): reorder the rows.
        rows = kernel.reshape(length, 128, 4).transpose(1, 0, 2).reshape(-1, 4)
        linear.weight.copy_(torch.from_numpy(rows.T.copy()))
        linear.bias.copy_(torch.from_numpy(bias))
    return twin


def torch_layer_name(twin: torch.nn.Module) -> str:
    relus = [name for name, m in twin.named_modules() if isinstance(m, torch.nn.ReLU)]
    return relus[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = (2, 64) if args.quick else (2, 64, 256)
    n_timepoints = 300
    model = build_keras(n_timepoints)
    twin = torch_twin(model, n_timepoints)
    on_layers = KerasTorchModel(model, twin=False)  # every call through the Keras layers
    layer = torch_layer_name(twin)
    print(
        f"# {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, keras {keras.__version__}, "
        f"{args.threads} threads, median of {args.rounds} interleaved rounds"
    )
    print(
        "| cases | method | Keras (twin) s | Keras layers (twin=False) s | plain torch s | "
        "ratio twin | ratio layers | max difference |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        x = np.random.default_rng(n).standard_normal((n, 9, n_timepoints)).astype(np.float32)
        x_nlc = np.ascontiguousarray(x.transpose(0, 2, 1))
        target = np.arange(n) % 4
        for method, params in METHODS.items():
            keras_params = {**params, **({"layer": LAYERS["keras"]} if "cam" in method else {})}
            torch_params = {**params, **({"layer": layer} if "cam" in method else {})}

            def run_keras(p=keras_params, m=method, data=x_nlc, t=target):
                return cl.explain(
                    model, data, m, layout="nlc", target=t, progress=False, **p
                ).attributions

            def run_layers(p=keras_params, m=method, data=x_nlc, t=target):
                return cl.explain(
                    on_layers, data, m, layout="nlc", target=t, progress=False, **p
                ).attributions

            def run_torch(p=torch_params, m=method, data=x, t=target):
                return cl.explain(twin, data, m, target=t, progress=False, **p).attributions

            runs = {"keras": run_keras, "layers": run_layers, "torch": run_torch}
            for fn in runs.values():  # warm-up: one-off probes and caches
                fn()
            times: dict[str, list[float]] = {name: [] for name in runs}
            maps = {}
            for _ in range(args.rounds):
                for name, fn in runs.items():
                    start = time.perf_counter()
                    maps[name] = np.asarray(fn())
                    times[name].append(time.perf_counter() - start)
            k, kl, t = (statistics.median(times[name]) for name in ("keras", "layers", "torch"))
            scale = max(float(np.abs(maps["torch"]).max()), 1e-12)
            difference = float(np.abs(maps["keras"] - maps["torch"]).max()) / scale
            print(
                f"| {n} | {method} | {k:.4f} | {kl:.4f} | {t:.4f} | {k / t:.2f} | {kl / t:.2f} "
                f"| {difference:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
