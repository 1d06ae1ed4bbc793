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
from keras_twins import data, keras_conv, keras_gap, torch_conv_twin, torch_gap_twin  # noqa: E402
from test_lrp import COMPOSITES, zennit_map  # noqa: E402

import chronolens as cl  # noqa: E402
from chronolens.models.base import CapabilityError  # noqa: E402


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
