"""chronolens.keras attention layers: torch-twin parity of weights and logits, safe .keras loading.

Each backend runs in its own process (KERAS_BACKEND is read once per process).
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("keras")

SCRIPT = textwrap.dedent(
    """
    import numpy as np, keras, torch
    import chronolens as cl
    from chronolens import zoo
    from chronolens._keras_files import load_keras_model
    from chronolens.keras import AttentionPooling, AttentionWeights

    inp = keras.Input((20, 3))
    states = keras.layers.GRU(4, return_sequences=True, name="gru")(inp)
    weights = AttentionWeights(5)(states)
    out = keras.layers.Dense(2, name="fc")(AttentionPooling()([states, weights]))
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(3, 3, 20)).astype("float32")

    # Torch twin of the head: the same states (from Keras) through zoo.AdditiveAttention.
    seq = keras.Model(inp, states)(x.transpose(0, 2, 1))
    states_np = np.asarray(keras.ops.convert_to_numpy(seq))
    head = zoo.AdditiveAttention(4, 5)
    att = model.get_layer("attention_weights")
    W, b = (np.asarray(keras.ops.convert_to_numpy(v)) for v in att.score.weights)
    (v,) = (np.asarray(keras.ops.convert_to_numpy(v)) for v in att.energy.weights)
    fw, fb = (np.asarray(keras.ops.convert_to_numpy(v)) for v in model.get_layer("fc").weights)
    with torch.no_grad():
        head.score.weight.copy_(torch.from_numpy(W.T)); head.score.bias.copy_(torch.from_numpy(b))
        head.energy.weight.copy_(torch.from_numpy(v.T))
        fc = torch.nn.Linear(4, 2)
        fc.weight.copy_(torch.from_numpy(fw.T)); fc.bias.copy_(torch.from_numpy(fb))
        twin_logits = fc(head(torch.from_numpy(states_np))).numpy()
    exp = cl.explain(model, x, "attention")
    with torch.no_grad():
        e = torch.tanh(torch.from_numpy(states_np) @ head.score.weight.T + head.score.bias)
        twin_w = torch.softmax(e @ head.energy.weight[0], dim=1).numpy()
    np.testing.assert_allclose(exp.attributions[:, 0], twin_w, rtol=1e-5, atol=1e-6)
    logits = np.asarray(keras.ops.convert_to_numpy(model(x.transpose(0, 2, 1))))
    np.testing.assert_allclose(logits, twin_logits, rtol=1e-4, atol=1e-5)
    assert exp.extras["layer"] == "attention_weights" and exp.extras["class_agnostic"]

    model.save(PATH)
    loaded = load_keras_model(PATH)
    again = cl.explain(loaded, x, "attention")
    np.testing.assert_allclose(again.attributions, exp.attributions, rtol=1e-6)
    print("OK")
    """
)


@pytest.mark.parametrize("backend", ["torch", "tensorflow", "jax"])
def test_attention_layers_on_backend(backend, tmp_path):
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend}
    script = f"PATH = {str(tmp_path / 'att.keras')!r}\n" + SCRIPT
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0 and "OK" in run.stdout, run.stderr[-3000:]
