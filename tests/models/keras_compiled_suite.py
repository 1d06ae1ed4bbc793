"""Compiled Keras passes (tf.function, jax.jit) for one backend; ``test_keras_compiled.py`` runs it.

The reference of each test is the eager path of the same adapter, forced with a callable
target that reads the same score (a callable's seed depends on the output, so it never takes
the compiled path), and the PyTorch twin holding the same weights.
"""

import os
import sys

import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras")

import chronolens as cl  # noqa: E402
from chronolens.models import adapt  # noqa: E402
from chronolens.targets import Target  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from keras_twins import data, keras_conv, torch_conv_twin  # noqa: E402

BACKEND = keras.backend.backend()
pytestmark = pytest.mark.skipif(BACKEND == "torch", reason="the torch backend runs torch itself")


def _eager(classes):
    index = torch.as_tensor(classes)
    return Target(fn=lambda out: out.gather(1, index[: len(out), None].to(out.device))[:, 0])


def test_compiled_gradients_equal_the_eager_path_and_the_torch_twin():
    model = keras_conv()
    adapter = adapt(model)
    x = torch.from_numpy(data(5))
    classes = torch.tensor([0, 2, 1, 1, 0])
    fast = adapter.gradient(x, Target(indices=classes))
    slow = adapter.gradient(x, _eager(classes))
    np.testing.assert_allclose(fast.grad, slow.grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast.scores, slow.scores, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fast.output, slow.output, rtol=1e-6, atol=1e-6)
    twin = cl.explain(torch_conv_twin(model), data(5), "saliency", target=classes, abs=False)
    ours = cl.explain(model, data(5), "saliency", target=classes, abs=False)
    np.testing.assert_allclose(ours.attributions, twin.attributions, rtol=1e-4, atol=1e-6)


def test_compiled_layer_gradients_equal_the_eager_path():
    adapter = adapt(keras_conv())
    x = torch.from_numpy(data(4))
    classes = torch.tensor([1, 0, 2, 1])
    fast = adapter.layer_gradient(x, Target(indices=classes), "relu2")
    slow = adapter.layer_gradient(x, _eager(classes), "relu2")
    for got, expected in zip(fast, slow):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_the_predicted_class_is_read_in_the_compiled_pass():
    adapter = adapt(keras_conv(seed=3))
    x = torch.from_numpy(data(6))
    predicted = adapter.scores(x).argmax(dim=1)
    fast = adapter.gradient(x, Target(predicted=True))
    slow = adapter.gradient(x, _eager(predicted))
    np.testing.assert_allclose(fast.grad, slow.grad, rtol=1e-5, atol=1e-6)


def test_one_trace_serves_every_batch_size_and_weights_are_read_live():
    model = keras_conv()
    adapter = adapt(model)
    target = lambda n: Target(indices=torch.zeros(n, dtype=torch.long))  # noqa: E731
    for n in (2, 5, 3):
        adapter.gradient(torch.from_numpy(data(n)), target(n))
    if BACKEND == "tensorflow":
        (function,) = adapter._compiled._functions.values()
        assert function.experimental_get_tracing_count() == 1
    dense = model.get_layer("fc")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 2.0, bias])
    x = torch.from_numpy(data(3))
    after = adapter.gradient(x, target(3))
    eager = adapter.gradient(x, _eager(torch.zeros(3, dtype=torch.long)))
    np.testing.assert_allclose(after.grad, eager.grad, rtol=1e-5, atol=1e-6)
