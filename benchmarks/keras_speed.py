#!/usr/bin/env python
"""Speed of chronolens against tf-keras-vis on a Keras 3 model (TensorFlow backend), one process.

The model is the user's architecture in Keras, channels last: Conv1D(128, 9) -> BatchNorm ->
ReLU -> MaxPool(5), twice, Flatten -> Dense, random weights, data ``(n, t, 9)`` passed with
``layout="nlc"``. Each method runs in both libraries on the same inputs, alternating, for
``--rounds`` interleaved rounds; the script prints the median seconds, the ratio (tf-keras-vis
seconds / chronolens seconds: above 1 means chronolens is faster), the largest difference between
the two maps, and the physical floor: one compiled forward+backward pass over the same cases
(``tf.function``), with chronolens' time as a multiple of it.

    # benchmark-only dependency, kept out of the environment: its wheel ships a top-level
    # `tests` package that would hide a project's own tests/ folder
    pip install --no-deps --target /tmp/tfkv tf-keras-vis && rm -r /tmp/tfkv/tests
    export PYTHONPATH=/tmp/tfkv
    python benchmarks/keras_speed.py           # 2, 64, 256 cases at 300 points; 2, 16 at 3,000
    python benchmarks/keras_speed.py --quick    # 2 and 64 cases at 300 points
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.saliency import Saliency
from tf_keras_vis.utils.scores import CategoricalScore

import chronolens as cl


def build(n_timepoints: int) -> keras.Model:
    inputs = keras.Input((n_timepoints, 9))
    h = inputs
    for i in range(2):
        h = keras.layers.Conv1D(128, 9, name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
        h = keras.layers.MaxPooling1D(5, name=f"pool{i}")(h)
    outputs = keras.layers.Dense(4, name="fc")(keras.layers.Flatten()(h))
    return keras.Model(inputs, outputs)


def pairs(model: keras.Model) -> dict[str, tuple[Callable, Callable]]:
    """Per method: (chronolens, tf-keras-vis), each mapping (x, target) to a map (n, t[, c])."""
    saliency, gradcam, gradcampp = (
        Saliency(model, clone=False),
        Gradcam(model, clone=False),
        GradcamPlusPlus(model, clone=False),
    )

    def ours(method: str, **params: object) -> Callable:
        def run(x: np.ndarray, target: np.ndarray) -> np.ndarray:
            exp = cl.explain(model, x, method, layout="nlc", target=target, **params)
            return np.asarray(exp.extras["layer_map"] if "cam" in method else exp.attributions)

        return run

    def vis_cam(tool: Callable) -> Callable:
        def run(x: np.ndarray, target: np.ndarray) -> np.ndarray:
            return np.asarray(
                tool(
                    CategoricalScore(list(target)),
                    x,
                    penultimate_layer="relu1",
                    seek_penultimate_conv_layer=False,
                    normalize_cam=False,
                    expand_cam=False,
                )
            )

        return run

    def vis_saliency(samples: int) -> Callable:
        def run(x: np.ndarray, target: np.ndarray) -> np.ndarray:
            return np.asarray(
                saliency(
                    CategoricalScore(list(target)),
                    x,
                    smooth_samples=samples,
                    keepdims=True,
                    normalize_map=False,
                )
            )

        return run

    return {
        "saliency": (ours("saliency"), vis_saliency(0)),
        "grad_cam": (ours("grad_cam", layer="relu1"), vis_cam(gradcam)),
        "grad_cam_pp": (ours("grad_cam_pp", layer="relu1"), vis_cam(gradcampp)),
        "smoothgrad_20": (ours("smoothgrad", n_samples=20, seed=0), vis_saliency(20)),
    }


def floor(model: keras.Model, x: np.ndarray, target: np.ndarray) -> Callable[[], object]:
    """One compiled forward+backward pass over the cases: what any gradient map must cost."""
    spec = [tf.TensorSpec([None, *x.shape[1:]], tf.float32)]
    # A fresh, aligned int32 copy: TensorFlow's OneHot aborts the process on a misaligned
    # NumPy buffer (seen with 16 cases at 3,000 points).
    seed = tf.one_hot(tf.constant(np.array(target, dtype=np.int32)), 4)

    @tf.function(input_signature=spec)
    def run(inputs: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = model(inputs, training=False)
        return tape.gradient(out, inputs, output_gradients=seed)

    tensor = tf.constant(x)
    return lambda: run(tensor)


def median_seconds(calls: list[Callable[[], object]], rounds: int) -> list[float]:
    for call in calls:  # warm-up: traces, caches, allocator
        call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            call()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated method keys")
    args = parser.parse_args()
    settings = (
        [(300, 2), (300, 64)]
        if args.quick
        else [(300, 2), (300, 64), (300, 256), (3000, 2), (3000, 16)]
    )
    print(f"keras {keras.__version__}, tensorflow {tf.__version__}, chronolens {cl.__version__}")
    print(
        "| points | cases | method | chronolens s | tf-keras-vis s | ratio | x floor | max diff |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for n_timepoints, n_cases in settings:
        model = build(n_timepoints)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(n_cases, n_timepoints, 9)).astype(np.float32)
        target = rng.integers(0, 4, n_cases)
        for name, (ours, theirs) in pairs(model).items():
            if args.only and name not in args.only.split(","):
                continue
            base = floor(model, x, target)
            calls = [functools.partial(ours, x, target), functools.partial(theirs, x, target), base]
            t_ours, t_theirs, t_floor = median_seconds(calls, args.rounds)
            ours_map, theirs_map = ours(x, target), theirs(x, target)
            if ours_map.ndim == 3 and ours_map.shape[1:] != theirs_map.shape[1:]:
                ours_map = ours_map.transpose(0, 2, 1)
            diff = float(np.max(np.abs(np.squeeze(ours_map) - np.squeeze(theirs_map))))
            passes = 20 if name == "smoothgrad_20" else 1
            print(
                f"| {n_timepoints} | {n_cases} | {name} | {t_ours:.4f} | {t_theirs:.4f} | "
                f"{t_theirs / t_ours:.2f}x | {t_ours / (passes * t_floor):.2f} | {diff:.2e} |"
            )


if __name__ == "__main__":
    main()
