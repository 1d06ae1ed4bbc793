"""Run by ``test_lrp.py`` with ``KERAS_BACKEND=torch`` in a fresh interpreter: LRP of the Keras
twins (tests/models/keras_twins.py) against zennit's map of their PyTorch twins.

Prints one line per (model, composite) and exits non-zero on the first mismatch.
"""

import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "models"))
sys.path.insert(0, HERE)

import keras  # noqa: E402
from keras_twins import (  # noqa: E402
    _copy_conv,
    data,
    keras_conv,
    keras_gap,
    randomise,
    torch_conv_twin,
    torch_gap_twin,
)
from test_lrp import COMPOSITES, zennit_map  # noqa: E402
from torch import nn  # noqa: E402

import chronolens as cl  # noqa: E402
from chronolens.models.base import CapabilityError  # noqa: E402


class TorchResidual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv1d(3, 4, 5, padding=2)
        self.conv_b = nn.Conv1d(4, 4, 3, padding=1)
        self.conv_s = nn.Conv1d(3, 4, 1)
        self.relu = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = self.relu(self.conv_b(self.relu(self.conv_a(x))) + self.conv_s(x))
        return self.fc(self.gap(y).flatten(1))


def residual_twins():
    """A Keras residual block with an Add layer, and its torch twin (a torch addition)."""
    layers = keras.layers
    inputs = keras.Input((40, 3))
    h = layers.Conv1D(4, 5, padding="same", name="conv_a")(inputs)
    h = layers.Conv1D(4, 3, padding="same", name="conv_b")(layers.Activation("relu")(h))
    h = layers.Add(name="add")([h, layers.Conv1D(4, 1, name="conv_s")(inputs)])
    h = layers.GlobalAveragePooling1D()(layers.Activation("relu")(h))
    model = randomise(keras.Model(inputs, layers.Dense(3, name="fc")(h)), 2)
    twin = TorchResidual()
    with torch.no_grad():
        for name in ("conv_a", "conv_b", "conv_s"):
            _copy_conv(model.get_layer(name), getattr(twin, name))
        kernel, bias = model.get_layer("fc").get_weights()
        twin.fc.weight.copy_(torch.from_numpy(kernel.T.copy()))
        twin.fc.bias.copy_(torch.from_numpy(bias))
    return model, twin.eval()


def main():
    assert keras.backend.backend() == "torch"
    x = data()
    target = [0, 1, 2, 0][: len(x)]
    for label, build, twin_of in (
        ("conv", keras_conv, torch_conv_twin),
        ("gap", keras_gap, torch_gap_twin),
    ):
        model = build()
        twin = twin_of(model)
        weights = [w.copy() for w in model.get_weights()]
        for composite in COMPOSITES:
            exp = cl.explain(model, x, "lrp", target=target, composite=composite)
            expected = zennit_map(twin, x, target, composite)
            scale = float(np.abs(expected).max())
            np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-5 * scale)
            print(label, composite, float(np.abs(exp.attributions - expected).max() / scale))
        for before, after in zip(weights, model.get_weights()):
            np.testing.assert_array_equal(before, after)
    model, twin = residual_twins()
    for composite in COMPOSITES:  # the Add layer's sum rule = the torch addition's
        exp = cl.explain(model, x, "lrp", target=target, composite=composite)
        reference = cl.explain(twin, x, "lrp", target=target, composite=composite)
        assert reference.extras["rules"]["relu (its input, a sum)"] == "norm"
        expected = reference.attributions
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-5 * scale)
        assert exp.extras["rules"]["add"] == "norm", exp.extras["rules"]
        print("residual", composite, float(np.abs(exp.attributions - expected).max() / scale))
    rnn = keras.Sequential(
        [keras.Input((40, 3)), keras.layers.LSTM(4, name="rnn"), keras.layers.Dense(2)]
    )
    try:
        cl.explain(rnn, x, "lrp")
    except CapabilityError as error:
        assert "'rnn' (Keras LSTM)" in str(error) and "integrated_gradients" in str(error), error
    else:
        raise AssertionError("an LSTM was not refused")
    print("ok")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
