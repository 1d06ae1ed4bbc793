"""The plain-torch twin of Keras chains on the torch backend (``test_keras.py`` runs this file).

Run by hand with ``KERAS_BACKEND=torch python -m pytest tests/models/keras_twin_suite.py``.
References: the Keras model's own forward (``model(x, training=False)``) for the scores; the same
model explained on its Keras layers (``KerasTorchModel(model, twin=False)``: autograd through
Keras' own ops) for every map; a literal occlusion loop over the Keras forward for occlusion.
"""

import os
import sys
import threading

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("the twin is for the torch backend", allow_module_level=True)

import torch  # noqa: E402

import chronolens as cl  # noqa: E402
from chronolens.models import adapt  # noqa: E402
from chronolens.models.keras import KerasTorchModel  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from keras_twins import randomise  # noqa: E402

L = keras.layers


def _question(head=None, padding="valid", t=60, c=4):
    """The question's network, small: Conv1D-BN-ReLU-MaxPool twice, Flatten, Dropout, Dense."""
    return keras.Sequential(
        [
            keras.Input((t, c)),
            L.Conv1D(6, 9, padding=padding, name="conv1"),
            L.BatchNormalization(name="bn1"),
            L.ReLU(name="relu1"),
            L.MaxPooling1D(2, name="pool1"),
            L.Conv1D(5, 5, activation="relu", padding=padding, name="conv2"),
            L.BatchNormalization(name="bn2"),
            L.Activation("relu", name="relu2"),
            L.MaxPooling1D(2, name="pool2"),
            L.Flatten(name="flatten"),
            L.Dropout(0.4, name="drop"),
            L.Dense(3, activation=head, name="fc"),
        ]
    )


def _functional_gap(t=60, c=4):
    inputs = keras.Input((t, c))
    h = L.Conv1D(6, 4, padding="same", dilation_rate=2, name="conv")(inputs)  # even kernel
    h = L.LeakyReLU(0.1, name="leaky")(h)
    h = L.AveragePooling1D(2, name="avg")(h)
    h = L.Conv1D(6, 3, padding="causal", activation="tanh", name="causal")(h)
    h = L.GlobalAveragePooling1D(name="gap")(h)
    return keras.Model(inputs, L.Dense(3, name="fc")(h))


def _global_max(t=60, c=4):
    return keras.Sequential(
        [
            keras.Input((t, c)),
            L.Conv1D(6, 5, strides=2, activation="elu", name="conv"),
            L.GlobalMaxPooling1D(name="gmp"),
            L.Dense(8, activation="gelu", name="hidden"),
            L.Dense(3, name="fc"),
            L.Softmax(name="softmax"),
        ]
    )


CHAINS = {
    "question": lambda: _question(),
    "question softmax, same padding": lambda: _question("softmax", "same"),
    "question causal": lambda: _question(None, "causal"),
    "functional GAP": _functional_gap,
    "global max, strided": _global_max,
    "any length": lambda: keras.Sequential(
        [keras.Input((None, 4)), L.Conv1D(6, 5), L.ReLU(), L.GlobalAveragePooling1D(), L.Dense(3)]
    ),
}


def _residual(t=60, c=4):
    inputs = keras.Input((t, c))
    h = L.Conv1D(4, 3, padding="same", name="conv")(inputs)
    h = L.Add(name="add")([h, inputs])
    return keras.Model(inputs, L.Dense(3, name="fc")(L.GlobalAveragePooling1D(name="gap")(h)))


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = L.Conv1D(4, 3, name="conv")
        self.gap = L.GlobalAveragePooling1D(name="gap")
        self.fc = L.Dense(3, name="fc")

    def call(self, x):
        return self.fc(self.gap(self.conv(x) * 2.0))


def _subclassed():
    model = _Subclassed()
    model(np.zeros((1, 60, 4), np.float32))
    return model


OTHERS = {
    "residual": _residual,
    "subclassed": _subclassed,
    "strided same": lambda: keras.Sequential(
        [keras.Input((60, 4)), L.Conv1D(4, 4, strides=2, padding="same"), L.Flatten(), L.Dense(3)]
    ),
    "layer norm": lambda: keras.Sequential(
        [keras.Input((60, 4)), L.Conv1D(4, 3), L.LayerNormalization(), L.Flatten(), L.Dense(3)]
    ),
}


def _x(n=5, t=60, c=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, t, c)).astype(np.float32)


def _same(got, expected, rel=1e-4):
    scale = max(float(np.abs(expected).max()), 1e-12)
    np.testing.assert_allclose(got, expected, rtol=rel, atol=rel * scale)


@pytest.mark.parametrize("name", list(CHAINS))
def test_a_chain_runs_on_its_twin_and_gives_the_keras_layers_numbers(name):
    model = randomise(CHAINS[name](), seed=1)
    x = _x()
    twin, layers = KerasTorchModel(model), KerasTorchModel(model, twin=False)
    assert twin.uses_twin and not layers.uses_twin
    assert "twin='torch'" in repr(adapt(model))
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    exp = cl.explain(model, x, "saliency", layout="nlc", target=0)
    _same(exp.scores, expected[:, 0] if exp.scores.ndim == 1 else expected, 1e-5)
    for method, params in [
        ("saliency", {}),
        ("integrated_gradients", {"n_steps": 8}),
        ("grad_cam", {}),
        ("occlusion", {"window": 6, "stride": 3}),
    ]:
        got = cl.explain(twin, x, method, layout="nlc", target=0, **params)
        reference = cl.explain(layers, x, method, layout="nlc", target=0, **params)
        _same(got.attributions, reference.attributions)


@pytest.mark.parametrize("name", list(OTHERS))
def test_a_model_the_twin_does_not_reproduce_keeps_the_keras_layers(name):
    model = randomise(OTHERS[name](), seed=2)
    adapter = KerasTorchModel(model)
    assert not adapter.uses_twin
    x = _x()
    exp = cl.explain(model, x, "saliency", layout="nlc", target=0)
    xt = torch.tensor(x, requires_grad=True)
    model(xt, training=False)[:, 0].sum().backward()
    _same(exp.attributions, np.abs(xt.grad.numpy().transpose(0, 2, 1)))


def test_occlusion_gets_the_incremental_engine_and_equals_a_literal_loop():
    model = randomise(_question(), seed=3)
    x = _x(n=3)
    window, stride = 6, 6
    exp = cl.explain(model, x, "occlusion", layout="nlc", target=1, window=window, stride=stride)
    assert exp.extras["occlusion_path"] == "incremental-chain"
    keras_path = cl.explain(
        KerasTorchModel(model, twin=False), x, "occlusion", layout="nlc", target=1, window=window
    )
    assert keras_path.extras["occlusion_path"] == "full"
    base = keras.ops.convert_to_numpy(model(x, training=False))[:, 1]
    literal = np.zeros((3, 4, 60))
    for c in range(4):  # channels="each": one channel's window at a time
        for start in range(0, 60 - window + 1, stride):
            hidden = x.copy()
            hidden[:, start : start + window, c] = 0.0
            drop = base - keras.ops.convert_to_numpy(model(hidden, training=False))[:, 1]
            literal[:, c, start : start + window] = drop[:, None]
    _same(exp.attributions, literal)


def test_weights_assigned_after_the_first_call_are_read_again():
    model = randomise(_question(), seed=4)
    x = _x()
    adapter = KerasTorchModel(model)
    before = cl.explain(adapter, x, "saliency", layout="nlc", target=0).attributions
    randomise(model, seed=5)  # set_weights: the user trained further
    model.get_layer("bn2").moving_mean.assign(np.full(5, 0.3, np.float32))
    after = cl.explain(adapter, x, "saliency", layout="nlc", target=0).attributions
    reference = cl.explain(
        KerasTorchModel(model, twin=False), x, "saliency", layout="nlc", target=0
    ).attributions
    _same(after, reference)
    assert not np.allclose(before, after)
    randomise(model, seed=7)  # again, now read by the incremental occlusion engine
    occluded = cl.explain(adapter, x, "occlusion", layout="nlc", target=0, window=6, stride=6)
    assert occluded.extras["occlusion_path"] == "incremental-chain"
    full = cl.explain(
        KerasTorchModel(model, twin=False),
        x,
        "occlusion",
        layout="nlc",
        target=0,
        window=6,
        stride=6,
    )
    _same(occluded.attributions, full.attributions)


def test_the_keras_model_is_untouched_and_threads_agree():
    model = randomise(_question(), seed=6)
    weights = [v.value.detach().clone() for v in model.weights]
    versions = [v.value._version for v in model.weights]
    x = _x(n=4)
    x_copy = x.copy()
    expected = cl.explain(model, x, "grad_cam", layout="nlc", target=2).attributions
    results, errors = [None] * 4, []

    def work(i):
        try:
            results[i] = cl.explain(model, x, "grad_cam", layout="nlc", target=2).attributions
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for got in results:
        np.testing.assert_array_equal(got, expected)
    for variable, weight, version in zip(model.weights, weights, versions):
        assert torch.equal(variable.value, weight) and variable.value._version == version
    assert not any(layer._forward_hooks or layer._forward_pre_hooks for layer in model.layers)
    np.testing.assert_array_equal(x, x_copy)
