"""Save Keras models on one backend, explain them from the command line on another.

``python keras_files_helper.py save DIR`` (any backend) writes model.keras, model.h5, the data,
the in-memory explanations as references, and files that must be refused. ``python
keras_files_helper.py check DIR`` runs ``chronolens explain`` on them and compares.
"""

import os
import sys
from pathlib import Path

import numpy as np

import chronolens as cl
from chronolens.cli import main

sys.path.insert(0, os.path.dirname(__file__))

RUNS = {
    "grad_cam": ["--layer", "conv2", "--target", "1"],
    "integrated_gradients": ["--param", "n_steps=8", "--target", "1"],
    "saliency": ["--target", "0"],
}


def save(folder: Path) -> None:
    import keras
    from keras_twins import data, keras_conv

    model = keras_conv(seed=7)
    x = data(n=3, seed=5)
    # Trained on the saving backend (TensorFlow when installed): the file then carries the
    # optimizer's state and moved batch-norm statistics, as a user's trained model does.
    rng = np.random.default_rng(3)
    x_train = rng.normal(size=(48, 40, 3)).astype("float32")
    y_train = (x_train[:, 10:20, 0].mean(axis=1) > 0).astype("int64")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_train, y_train, epochs=2, batch_size=16, verbose=0)
    np.save(folder / "x.npy", x)
    model.save(folder / "model.keras")
    model.save(folder / "model.h5")
    for method in ("grad_cam", "integrated_gradients"):
        kwargs = {"n_steps": 8} if method == "integrated_gradients" else {"layer": "conv2"}
        reference = cl.explain(model, x, method, target=1, **kwargs)
        np.save(folder / f"reference_{method}.npy", reference.attributions)
    layer_zoo(keras, x).save(folder / "zoo.h5")
    zoo_reference = cl.explain(keras.saving.load_model(folder / "zoo.h5"), x, "saliency", target=0)
    np.save(folder / "reference_zoo.npy", zoo_reference.attributions)
    marker = folder / "code_ran"
    # A Lambda layer whose function creates a file: loading must not run it.
    touch = eval(f"lambda v: v + 0.0 * len(open({str(marker)!r}, 'a').name)")
    inputs = keras.Input((40, 3))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Lambda(touch)(inputs)))
    unsafe = keras.Model(inputs, outputs)
    unsafe.save(folder / "lambda.keras")
    unsafe.save(folder / "lambda.h5")
    marker.unlink(missing_ok=True)
    (folder / "broken.keras").write_bytes(b"not a model")
    (folder / "broken.h5").write_bytes(b"not a model either")


def layer_zoo(keras, x):
    """Every layer the documentation lists as loadable from a legacy .h5 file."""
    layers = keras.layers
    inputs = keras.Input(x.shape[:0:-1])
    a = layers.Conv1D(4, 3, padding="same", activation="relu")(inputs)
    a = layers.BatchNormalization()(a)
    b = layers.SeparableConv1D(4, 3, padding="same")(inputs)
    b = layers.LeakyReLU()(layers.DepthwiseConv1D(3, padding="same")(b))
    h = layers.Add()([a, b])
    h = layers.SpatialDropout1D(0.1)(layers.Activation("tanh")(h))
    h = layers.Concatenate()([layers.MaxPooling1D(2)(h), layers.AveragePooling1D(2)(h)])
    h = layers.ReLU()(layers.Dropout(0.1)(h))
    recurrent = layers.GRU(3, return_sequences=True)(layers.LSTM(3, return_sequences=True)(h))
    features = layers.Concatenate()(
        [layers.GlobalAveragePooling1D()(h), layers.Flatten()(recurrent)]
    )
    return keras.Model(inputs, layers.Dense(2)(features))


def explain_file(folder: Path, model_file: str, method: str) -> int:
    return main(
        [
            "explain",
            str(folder / model_file),
            str(folder / "x.npy"),
            "--method",
            method,
            *RUNS[method],
            "--out",
            str(folder / "out.npz"),
            "--quiet",
        ]
    )


def check(folder: Path) -> None:
    assert "keras" not in sys.modules  # the command line chooses the backend
    for model_file in ("model.keras", "model.h5"):
        for method in ("grad_cam", "integrated_gradients"):
            assert explain_file(folder, model_file, method) == 0, (model_file, method)
            got = cl.Explanation.load(folder / "out.npz").attributions
            expected = np.load(folder / f"reference_{method}.npy")
            scale = float(np.abs(expected).max())
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)
    assert explain_file(folder, "zoo.h5", "saliency") == 0
    got = cl.Explanation.load(folder / "out.npz").attributions
    np.testing.assert_allclose(got, np.load(folder / "reference_zoo.npy"), rtol=1e-4, atol=1e-6)
    for model_file in ("lambda.keras", "lambda.h5", "broken.keras", "broken.h5"):
        assert explain_file(folder, model_file, "grad_cam") == 2, model_file
    assert not (folder / "code_ran").exists(), "loading a model file ran its code"
    print(f"checked on the {sys.modules['keras'].backend.backend()} backend")


if __name__ == "__main__":
    {"save": save, "check": check}[sys.argv[1]](Path(sys.argv[2]))
