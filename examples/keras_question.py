"""The user's question, asked of a Keras model: when, and in which sensor, is the evidence?

The architecture is theirs: Input(300, 9) -> Conv1D(128, 9) -> BatchNormalization -> Activation
-> MaxPooling1D(5), twice, then Flatten -> Dense. It is trained briefly on synthetic sensor data
(9 channels x 300 points, one planted event decides the class), then the whole path:

1. where and in which sensor: Grad-CAM (when), channel Grad-CAM (which sensor, when, from the
   unmodified CNN) and saliency, scored against the planted events;
2. can the map be trusted: the model-randomization sanity check;
3. what the network wants: activation maximization of each class;
4. what a filter responds to, aligned to input time: activations of the first block;
5. everything in one HTML page: the report.

The data stays in the Keras layout (n, t, c): chronolens is told so with ``layout="nlc"``.

Run: ``python examples/keras_question.py [output folder]`` (default ``keras_question``; Keras on
the torch backend unless KERAS_BACKEND says otherwise). It writes ``maps.png``,
``prototypes.png``, ``activations.png`` and ``report.html`` there.
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

import chronolens as cl
from chronolens.datasets import make_sensor_events
from chronolens.metrics import average_precision_score
from chronolens.plot import plot_comparison

out = Path(sys.argv[1] if len(sys.argv) > 1 else "keras_question")
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(0)

data = make_sensor_events(n_cases=800, seed=0)
X, y, mask = data
X_keras = X.transpose(0, 2, 1)  # (n, 300, 9): channels last, as Keras users store it
train, test = slice(0, 600), slice(600, 640)  # explain 40 test cases

layers = keras.layers
# momentum=0.9 (PyTorch's default) lets the moving statistics settle within a short training;
# with Keras' 0.99 they lag far behind after 12 epochs and test accuracy suffers.
model = keras.Sequential(
    [
        keras.Input((300, 9)),
        layers.Conv1D(128, 9),
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
        layers.MaxPooling1D(5),
        layers.Conv1D(128, 9),
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
        layers.MaxPooling1D(5),
        layers.Flatten(),
        layers.Dense(len(data.class_names)),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
start = time.perf_counter()
model.fit(X_keras[train], y[train], epochs=12, batch_size=32, verbose=0)
seconds = time.perf_counter() - start
_, accuracy = model.evaluate(X_keras[600:], y[600:], verbose=0)
backend = keras.backend.backend()
print(f"{backend} backend: trained in {seconds:.0f} s, test accuracy {accuracy:.2f}")

names = {"class_names": data.class_names, "channel_names": data.channel_names}
cases = X_keras[test]
start = time.perf_counter()
maps = {
    method: cl.explain(model, cases, method, layout="nlc", progress=False, **names)
    for method in ("grad_cam", "channel_grad_cam", "saliency")
}
seconds = time.perf_counter() - start
print(f"1. explained {len(cases)} cases with 3 methods in {seconds:.1f} s")
for method, exp in maps.items():
    score = average_precision_score(exp, mask[test]).mean()
    rows = "one row per sensor" if exp.per_channel else "one row shared by all sensors"
    print(f"   {method}: maps {exp.attributions.shape} ({rows}), average precision {score:.3f}")
chance = mask[test].mean()
print(f"   chance level (the share of planted points): {chance:.3f}")

predicted = maps["grad_cam"].scores.argmax(axis=1)
case = int(np.flatnonzero(predicted == y[test])[0])  # a correctly classified case
figure = plot_comparison(
    {
        "grad_cam (when)": maps["grad_cam"],
        "channel_grad_cam (which sensor, when)": maps["channel_grad_cam"],
        "saliency": maps["saliency"],
    },
    case,
)
figure.savefig(out / "maps.png", dpi=70)

check = cl.metrics.model_randomization(
    model, cases[:8], "channel_grad_cam", layout="nlc", target=predicted[:8]
)
print(f"2. sanity check, channel_grad_cam: {check.mean_absolute[-1]:.2f} rank correlation with")
print(f"   the fully randomized model's maps ({'passed' if check.passed else 'FAILED'})")

print("3. activation maximization (one prototype per class, 4 restarts):")
for klass, name in enumerate(data.class_names):
    reference = X_keras[train][y[train] == klass][:32]
    prototypes = cl.maximize(model, klass, reference=reference, layout="nlc", seed=0)
    logits = model.predict(prototypes.prototypes[:1].transpose(0, 2, 1), verbose=0)
    probability = np.exp(logits[0] - logits[0].max())
    probability = float(probability[klass] / probability.sum())
    step = np.abs(np.diff(prototypes.prototypes[0], axis=-1)).mean()
    data_step = np.abs(np.diff(reference, axis=1)).mean()  # (n, t, c): time is axis 1
    print(
        f"   {name}: logit {prototypes.target_value[0]:.1f}, p = {probability:.2f}, "
        f"roughness {step / data_step:.1f}x the data's, "
        f"nearest training case {int(prototypes.nearest[0])}"
    )
    if klass == y[test][case]:
        prototypes.plot(0, channel_names=data.channel_names).savefig(out / "prototypes.png", dpi=70)

first_block = model.layers[3].name  # the first MaxPooling1D: 128 filters, aligned to input time
acts = cl.activations(model, cases, first_block, layout="nlc")
strongest = np.argsort(-acts.values[case].max(axis=1))[:4].tolist()
print(
    f"4. activations of {first_block!r}: {acts.values.shape[1]} filters, aligned to input time by"
)
print(f"   their receptive-field centres; strongest filters on case {case}: {strongest}")
acts.plot(case, filters=strongest, channel_names=data.channel_names).savefig(
    out / "activations.png", dpi=70
)

start = time.perf_counter()
page = cl.report(
    model,
    cases[:16],
    layout="nlc",
    y=y[test][:16],
    methods=["channel_grad_cam", "grad_cam", "saliency"],
    out=out / "report.html",
    **names,
)
print(f"5. wrote {page} in {time.perf_counter() - start:.0f} s")
print(f"figures: {out / 'maps.png'}, {out / 'prototypes.png'}, {out / 'activations.png'}")
