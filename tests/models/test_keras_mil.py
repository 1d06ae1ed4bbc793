"""chronolens.keras.MILPooling: torch-twin parity with zoo.mil, exact decomposition, weights intact.

Each backend runs in its own process (KERAS_BACKEND is read once per process). The twin is
``zoo.mil`` holding the Keras model's weights; the references are its logits and its own
``explain(method="mil")``, the Keras model's output, and the encoding's closed form.
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("keras")

SCRIPT = textwrap.dedent(
    """
    import math
    import numpy as np, keras, torch
    from torch import nn
    import chronolens as cl
    from chronolens import zoo
    from chronolens._keras_files import load_keras_model
    from chronolens.keras import MILPooling
    from chronolens.keras.mil import _symbolic_encoding, sinusoidal_encoding

    T, C, K, D = 24, 2, 3, 6
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, T, C)).astype("float32")  # channels last
    rows, targets = np.arange(4), [0, 1, 2, 1]
    np_ = lambda v: np.asarray(keras.ops.convert_to_numpy(v))

    # The encoding against its closed form, also when the length is known only at run time.
    closed = np.array([[math.sin(p / 1e4 ** (j / 7)) if j % 2 == 0
                        else math.cos(p / 1e4 ** ((j - 1) / 7)) for j in range(7)]
                       for p in range(30)])
    np.testing.assert_allclose(sinusoidal_encoding(30, 7), closed, atol=1e-6)
    np.testing.assert_allclose(np_(_symbolic_encoding(keras.ops.zeros((1, 30, 7)), 7)), closed,
                               atol=2e-5)

    def keras_model(pooling, dropout=0.1):
        inp = keras.Input((T, C))
        feats = keras.layers.Conv1D(D, 5, activation="relu", name="conv")(inp)  # centre j + 2
        head = MILPooling(K, pooling, d_attn=4, dropout=dropout, name="mil")
        model = keras.Model(inp, head(feats))
        mil = model.get_layer("mil")
        extra = [mil.attention_hidden, mil.attention_score] if pooling != "instance" else []
        for layer in (model.get_layer("conv"), mil.classifier, *extra):
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                               for w in layer.get_weights()])
        return model

    def twin(model, pooling):
        net = zoo.mil(nn.Sequential(nn.Conv1d(C, D, 5), nn.ReLU()), K, pooling, d_attn=4).eval()
        head, mil = net.head, model.get_layer("mil")
        pairs = [(model.get_layer("conv"), net.backbone[0]), (mil.classifier, head.classifier)]
        if pooling != "instance":
            pairs += [(mil.attention_hidden, head.attention_head[0]),
                      (mil.attention_score, head.attention_head[2])]
        with torch.no_grad():
            for keras_layer, conv in pairs:
                kernel, bias = keras_layer.get_weights()
                kernel = kernel if kernel.ndim == 3 else kernel[None]  # Dense: (in, out)
                conv.weight.copy_(torch.from_numpy(kernel.transpose(2, 1, 0).copy()))
                conv.bias.copy_(torch.from_numpy(bias))
        return net

    for pooling in ("instance", "attention", "additive", "conjunctive"):
        model = keras_model(pooling)
        net = twin(model, pooling)
        before = [w.copy() for w in model.get_weights()]
        logits = np_(model(x, training=False))
        with torch.no_grad():
            twin_logits = net(torch.from_numpy(x.transpose(0, 2, 1).copy())).numpy()
        np.testing.assert_allclose(logits, twin_logits, rtol=1e-5, atol=1e-5)
        exp = cl.explain(model, x, "mil", layout="nlc", target=targets)
        ref = cl.explain(net, x.transpose(0, 2, 1), "mil", target=targets)
        np.testing.assert_allclose(exp.extras["layer_map"], ref.extras["layer_map"],
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(exp.extras["layer_centers"], np.arange(T - 4) + 2)
        assert exp.extras["pooling"] == pooling and exp.extras["layer"] == "mil"
        assert exp.extras["class_agnostic"] == (pooling == "attention")
        if pooling in ("instance", "conjunctive"):  # exact: the mean over time is the logit
            np.testing.assert_allclose(exp.extras["layer_map"].mean(axis=-1),
                                       logits[rows, targets], rtol=1e-5, atol=1e-5)
        if pooling == "attention":
            assert exp.extras["layer_map"].min() > 0 and exp.extras["layer_map"].max() < 1
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))

    # Dropout acts in training only; the head saves and loads through the safe loader.
    model = keras_model("conjunctive", dropout=0.5)
    assert not np.allclose(np_(model(x, training=True)), np_(model(x, training=False)))
    model.save(PATH)
    loaded = load_keras_model(PATH)
    np.testing.assert_allclose(np_(loaded(x)), np_(model(x)), rtol=1e-6)
    again = cl.explain(loaded, x, "mil", layout="nlc", target=targets)
    first = cl.explain(model, x, "mil", layout="nlc", target=targets)
    np.testing.assert_allclose(again.attributions, first.attributions, rtol=1e-6)

    # A Sequential model works; a softmax after the head and a softmax target are refused.
    seq = keras.Sequential([keras.Input((T, C)), keras.layers.Conv1D(D, 3, name="c"),
                            MILPooling(K, "instance")])
    exp = cl.explain(seq, x, "mil", layout="nlc")
    np.testing.assert_allclose(exp.extras["layer_map"].mean(axis=-1),
                               np_(seq(x)).max(axis=1), rtol=1e-5, atol=1e-5)
    soft = keras.Model(seq.inputs, keras.layers.Softmax()(seq.outputs[0]))
    for bad, kwargs in ((soft, {}), (seq, {"target": lambda out: torch.softmax(out, 1)[:, 0]})):
        try:
            cl.explain(bad, x, "mil", layout="nlc", **kwargs)
        except ValueError as error:
            assert "logits" in str(error), error
        else:
            raise AssertionError("not refused")

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv, self.head = keras.layers.Conv1D(D, 3), MILPooling(K)

        def call(self, inputs):
            return self.head(self.conv(inputs))

    sub = Subclassed()
    sub(x)
    try:
        cl.explain(sub, x, "mil", layout="nlc")
    except ValueError as error:
        assert "functional or" in str(error), error
    else:
        raise AssertionError("not refused")
    print("OK")
    """
)


@pytest.mark.parametrize("backend", ["torch", "tensorflow", "jax"])
def test_mil_pooling_matches_its_torch_twin_on_backend(backend, tmp_path):
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend}
    script = f"PATH = {str(tmp_path / 'mil.keras')!r}\n" + SCRIPT
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0 and "OK" in run.stdout, run.stderr[-3000:]
