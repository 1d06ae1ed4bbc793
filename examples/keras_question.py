"""The user's question, asked of a Keras model: when, and in which sensor, is the evidence?

The architecture is theirs: Input(300, 9) -> Conv1D(128, 9) -> BatchNormalization -> Activation
-> MaxPooling1D(5), twice, then Flatten -> Dense. It is trained briefly on synthetic sensor data
(9 channels x 300 points, one planted event decides the class) and explained with Grad-CAM
(when) and Integrated Gradients (which channel, when). The data stays in the Keras layout
(n, t, c): chronolens is told so with ``layout="nlc"``.

Run: ``python examples/keras_question.py [figure.png]`` (Keras on the torch backend unless
KERAS_BACKEND says otherwise).
"""

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

import chronolens as cl
from chronolens.datasets import make_sensor_events
from chronolens.metrics import average_precision_score
from chronolens.plot import plot_comparison

out = sys.argv[1] if len(sys.argv) > 1 else "keras_question.png"
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
start = time.perf_counter()
cam = cl.explain(model, X_keras[test], "grad_cam", layout="nlc", progress=False, **names)
ig = cl.explain(model, X_keras[test], "integrated_gradients", layout="nlc", progress=False, **names)
seconds = time.perf_counter() - start
print(f"explained {len(y[test])} cases twice in {seconds:.1f} s")
print(f"grad_cam read layer {cam.extras['layer']!r} ({cam.extras['alignment']})")
for exp in (cam, ig):
    score = average_precision_score(exp, mask[test]).mean()
    print(f"{exp.method}: maps {exp.attributions.shape}, average precision {score:.3f}")

predicted = cam.scores.argmax(axis=1)
case = int(np.flatnonzero(predicted == y[test])[0])  # a correctly classified case
figure = plot_comparison({"grad_cam (when)": cam, "integrated_gradients (which sensor)": ig}, case)
figure.savefig(out, dpi=70)
print(f"wrote {out} (case {case}, class {data.class_names[y[test][case]]})")
