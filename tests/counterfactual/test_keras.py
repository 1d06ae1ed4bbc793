"""Both methods on a Keras 3 model (torch backend, its own process): the planted window again."""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("keras")

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, keras
    import chronolens as cl
    sys.path.insert(0, HERE)
    from planted import HI, LO, T, planted_window_data

    # class 1 exactly when channel 1's mean over points 20..29 is above 0
    model = keras.Sequential([
        keras.Input((T, 3)),
        keras.layers.Conv1D(1, 1, use_bias=False, name="select"),
        keras.layers.Cropping1D((LO, T - HI)),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(2, use_bias=False, name="head"),
    ])
    w = np.zeros((1, 3, 1), "float32"); w[0, 1, 0] = 1.0
    model.get_layer("select").set_weights([w])
    model.get_layer("head").set_weights([np.array([[-1.0, 1.0]], "float32")])
    weights = [v.copy() for v in model.get_weights()]

    x, ref, y = planted_window_data()
    x_copy = x.copy()
    cf = cl.counterfactual(model, x, reference=(ref, y), distance="euclidean")
    assert cf.validity.all() and (cf.new_class == 1).all(), cf
    for i in range(len(x)):
        times = np.flatnonzero(cf.changed[i].any(axis=0))
        assert np.array_equal(times, np.arange(times[0], times[-1] + 1))
        assert times[0] < HI and times[-1] >= LO
    swap = cl.counterfactual(model, x, reference=(ref, y), method="comte")
    assert swap.validity.all()
    assert swap.changed[:, 1].all() and not swap.changed[:, [0, 2]].any()
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert np.array_equal(x, x_copy)
    print("OK", cf.params["relevance"])
    """
)


def test_keras_torch_backend():
    env = dict(os.environ, KERAS_BACKEND="torch")
    here = os.path.dirname(os.path.abspath(__file__))  # planted.py, imported by path
    script = SCRIPT.replace("HERE", repr(here))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("OK")
