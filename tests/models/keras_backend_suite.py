"""Keras adapter tests for one backend; ``test_keras.py`` runs this file per backend.

Run by hand with ``KERAS_BACKEND=torch python -m pytest tests/models/keras_backend_suite.py``.
The reference of every parity test is a PyTorch model holding the same weights, explained
through the torch adapter.
"""

import os
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import chronolens as cl  # noqa: E402
from chronolens._methods_propagation import SPECS as PROPAGATION_SPECS  # noqa: E402
from chronolens.attribution._receptive_field import _probe  # noqa: E402
from chronolens.models import adapt  # noqa: E402
from chronolens.models.base import CapabilityError  # noqa: E402
from chronolens.models.keras import KerasModel  # noqa: E402
from chronolens.registry import REGISTRY  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from keras_twins import (  # noqa: E402
    data,
    keras_conv,
    keras_fused,
    keras_gap,
    subclassed_copy,
    torch_conv_twin,
    torch_fused_twin,
    torch_gap_twin,
)

BACKEND = keras.backend.backend()
FRAMEWORKS = ("tensorflow", "jax")
IMPORTED_BY_KERAS = {name for name in FRAMEWORKS if name in sys.modules}


@pytest.fixture(autouse=True, params=["twin", "keras layers"] if BACKEND == "torch" else ["own"])
def torch_path(request, monkeypatch):
    """On the torch backend every test runs twice: on the plain-torch twin (the default for
    chains) and on the Keras layers themselves, as models the twin does not reproduce run."""
    if request.param == "keras layers":
        import chronolens.models._keras_torch as keras_torch

        monkeypatch.setattr(keras_torch, "keras_twin", lambda model: None)
    return request.param


def params_of(method):
    params = dict(REGISTRY[method].test_params)  # one place: the registry entry
    if REGISTRY[method].randomized:
        params["seed"] = 0
    return params


def assert_same(got, expected):
    scale = max(float(np.nanmax(np.abs(expected))), 1e-12)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.fixture(scope="module")
def conv():
    model = keras_conv()
    return model, torch_conv_twin(model)


@pytest.fixture(scope="module")
def gap():
    model = keras_gap()
    return model, torch_gap_twin(model)


# dcam reads PyTorch dimension-wise networks only (see test_dcam_refuses_keras); mil reads a
# multiple-instance head, which these plain CNN twins do not have (it refuses them, see
# test_mil_refuses_a_model_without_a_head); attention reads attention weights, which they do
# not have either (test_attention_refuses_a_model_without_attention).
@pytest.mark.parametrize(
    "method", [m for m in REGISTRY if m not in ("cam", "dcam", "mil", "attention")]
)
def test_parity_with_torch_twin(conv, method):
    model, twin = conv
    x = data()
    if REGISTRY[method].needs_rules and BACKEND != "torch":
        # Propagation methods change torch modules' backward passes: the torch backend only.
        with pytest.raises(CapabilityError, match="KERAS_BACKEND=torch"):
            cl.explain(model, x, method, **params_of(method))
        return
    got = cl.explain(model, x, method, **params_of(method))
    expected = cl.explain(twin, x, method, **params_of(method))
    assert got.attributions.shape == expected.attributions.shape
    assert_same(got.attributions, expected.attributions)
    assert_same(got.scores, expected.scores)
    np.testing.assert_array_equal(got.target, expected.target)
    if REGISTRY[method].needs_layer:
        assert got.extras["layer"] == expected.extras["layer"] == "pool2"
        np.testing.assert_allclose(got.extras["layer_centers"], expected.extras["layer_centers"])


@pytest.mark.parametrize("method", ["saliency", "grad_cam", "integrated_gradients"])
def test_chunks_that_start_mid_storage_reach_the_backend_safely(conv, method):
    # batch_size=3 on 5 cases: the second chunk's targets start 24 bytes into their storage.
    # TensorFlow aborted the whole process on such a buffer (its kernels demand 64-byte
    # alignment); the reference is the torch twin, in one chunk.
    model, twin = conv
    x = data(n=5)
    params = {**params_of(method), "target": [0, 1, 2, 0, 1]}
    got = cl.explain(model, x, method, batch_size=3, **params)
    expected = cl.explain(twin, x, method, **params)
    assert_same(got.attributions, expected.attributions)
    assert_same(got.scores, expected.scores)


def test_dcam_refuses_keras(conv):
    with pytest.raises(ValueError, match="dimension-wise PyTorch networks"):
        cl.explain(conv[0], data(), "dcam")


def test_mil_refuses_a_model_without_a_head(conv):
    with pytest.raises(CapabilityError, match="zoo.mil.*'grad_cam'"):
        cl.explain(conv[0], data(), "mil")


def test_attention_refuses_a_model_without_attention(conv):
    with pytest.raises(CapabilityError, match="zoo.attention_rnn.*'integrated_gradients'"):
        cl.explain(conv[0], data(), "attention")


@pytest.mark.parametrize("method", ["cam", "grad_cam", "layer_cam"])
def test_gap_network_parity(gap, method):
    model, twin = gap
    x = data(seed=3)
    got = cl.explain(model, x, method, target=[0, 1, 2, 1])
    expected = cl.explain(twin, x, method, target=[0, 1, 2, 1])
    assert got.extras["layer"] == "relu"
    assert_same(got.attributions, expected.attributions)
    if method == "cam":
        assert_same(got.extras["class_weights"], expected.extras["class_weights"])


def test_callable_target_and_explicit_layer(conv):
    model, twin = conv
    x = data()
    got = cl.explain(model, x, "grad_cam", layer="conv2", target=lambda out: out[:, 1] - out[:, 0])
    expected = cl.explain(twin, x, "grad_cam", layer="conv2", target=lambda o: o[:, 1] - o[:, 0])
    assert_same(got.attributions, expected.attributions)
    by_object = cl.explain(model, x, "grad_cam", layer=model.get_layer("conv2"), target=1)
    assert by_object.extras["layer"] == "conv2"


def test_channels_last_data_gives_the_same_map(conv):
    model, _ = conv
    x = data()
    ncl = cl.explain(model, x, "saliency")
    nlc = cl.explain(model, x.transpose(0, 2, 1).copy(), "saliency", layout="nlc")
    assert nlc.layout == "nlc"
    np.testing.assert_array_equal(nlc.attributions, ncl.attributions)


def _state(model):
    return {
        "weights": [w.copy() for w in model.get_weights()],
        "layers": [layer.trainable for layer in model.layers],
        "variables": [v.trainable for v in model.variables],
        "requires_grad": [p.requires_grad for p in getattr(model, "parameters", list)()],
        "training": getattr(model, "training", None),
    }


def test_model_and_input_untouched():
    model = keras_conv(seed=4)
    model.get_layer("conv1").trainable = False  # a user's frozen layer stays frozen
    before = _state(model)
    x = data()
    x_before = x.copy()
    for method in ("saliency", "integrated_gradients", "grad_cam", "score_cam", "occlusion"):
        cl.explain(model, x, method, **params_of(method))
    after = _state(model)
    for old, new in zip(before["weights"], after["weights"]):
        np.testing.assert_array_equal(old, new)
    for key in ("layers", "variables", "requires_grad", "training"):
        assert before[key] == after[key], key
    np.testing.assert_array_equal(x, x_before)


PROPAGATION = [spec.name for spec in PROPAGATION_SPECS]


@pytest.mark.skipif(BACKEND != "torch", reason="propagation rules need the torch backend")
@pytest.mark.parametrize("method", PROPAGATION)
def test_fused_activations_parity_and_model_as_found(method):
    """Conv1D/Dense with ``activation=``, a Keras ReLU layer and a global max pool."""
    model = keras_fused()
    twin = torch_fused_twin(model)
    x = data(seed=5)
    functions = [getattr(layer, "activation", None) for layer in model.layers]
    before = _state(model)
    got = cl.explain(model, x, method, **params_of(method))
    expected = cl.explain(twin, x, method, **params_of(method))
    assert_same(got.attributions, expected.attributions)
    assert [getattr(layer, "activation", None) for layer in model.layers] == functions
    assert not any(layer._forward_hooks or layer._forward_pre_hooks for layer in model.layers)
    after = _state(model)
    for old, new in zip(before["weights"], after["weights"]):
        np.testing.assert_array_equal(old, new)


class Boom(keras.layers.Layer):
    """The identity, raising in a pass that records gradients (the method's, mid-forward)."""

    def call(self, inputs):
        if getattr(inputs, "requires_grad", False):
            raise RuntimeError("boom")
        return inputs


@pytest.mark.skipif(BACKEND != "torch", reason="propagation rules need the torch backend")
@pytest.mark.parametrize("method", PROPAGATION)
def test_model_as_found_after_an_error_mid_forward(method):
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((12, 2)),
            layers.Conv1D(3, 3, activation="relu", name="conv"),
            layers.ReLU(name="relu"),
            Boom(name="boom"),
            layers.Flatten(),
            layers.Dense(2, name="fc"),
        ]
    )
    fused = model.get_layer("conv").activation
    with pytest.raises(RuntimeError, match="boom"):
        cl.explain(model, data(2, 2, 12), method, target=0, **params_of(method))
    assert model.get_layer("conv").activation is fused
    assert not any(layer._forward_hooks or layer._forward_pre_hooks for layer in model.layers)


def test_subclassed_model(conv):
    model, twin = conv
    sub = subclassed_copy(model)
    x = data()
    assert_same(
        cl.explain(sub, x, "saliency").attributions, cl.explain(twin, x, "saliency").attributions
    )
    if BACKEND == "torch":  # layers are read with torch hooks
        got = cl.explain(sub, x, "grad_cam")
        assert got.extras["layer"] == "pool2"
        assert_same(got.attributions, cl.explain(twin, x, "grad_cam").attributions)
    else:
        with pytest.raises(ValueError, match="subclassed model.*torch backend"):
            cl.explain(sub, x, "grad_cam")


def _strided_model():
    layers = keras.layers
    inputs = keras.Input((61, 2))
    h = layers.Conv1D(4, 5, strides=2, padding="same", name="same_s2")(inputs)
    h = layers.Conv1D(4, 3, dilation_rate=2, padding="causal", name="causal_d2")(h)
    h = layers.Activation("tanh", name="tanh")(h)
    h = layers.AveragePooling1D(3, strides=2, padding="same", name="avg")(h)
    h = layers.ZeroPadding1D((2, 1), name="zpad")(h)
    h = layers.Conv1D(4, 4, padding="valid", name="valid")(h)
    outputs = layers.Dense(2, name="fc")(layers.Flatten(name="flat")(h))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("layer", ["same_s2", "causal_d2", "avg", "valid"])
def test_centres_from_configs_match_probing(layer):
    adapted = KerasModel(_strided_model())
    from_configs = adapted.layer_centers(layer, 2, 61)
    assert from_configs is not None
    probed = _probe(adapted, layer, 2, 61, 64)
    np.testing.assert_allclose(from_configs, probed)


def test_branching_model_is_probed():
    layers = keras.layers
    inputs = keras.Input((30, 2))
    a = layers.Conv1D(4, 3, padding="same", name="a")(inputs)
    b = layers.Conv1D(4, 1, name="b")(inputs)
    h = layers.Add(name="add")([a, b])
    h = layers.Activation("relu", name="act")(h)
    model = keras.Model(inputs, layers.Dense(2, name="fc")(layers.GlobalAveragePooling1D()(h)))
    adapted = KerasModel(model)
    assert adapted.layer_centers("act", 2, 30) is None
    assert adapted.layer_centers("a", 2, 30) is not None
    exp = cl.explain(model, data(n_channels=2, n_timepoints=30), "grad_cam")
    assert exp.extras["layer"] == "act" and exp.extras["alignment"] == "probed"


def test_wrong_number_of_channels_names_axis_and_both_readings(conv):
    model, _ = conv
    with pytest.raises(ValueError, match=r"expects 3 channels, got 4.*layout='nlc'"):
        cl.explain(model, data(n_channels=4), "saliency")
    x_nlc = data().transpose(0, 2, 1).copy()  # the Keras habit, without layout="nlc"
    with pytest.raises(ValueError, match=r"n_channels=40, n_timepoints=3.*layout='nlc'") as info:
        cl.explain(model, x_nlc, "grad_cam")
    assert "(n_cases=4, n_channels=3, n_timepoints=40)" in str(info.value)


def test_unknown_layer_lists_candidates(conv):
    model, _ = conv
    with pytest.raises(ValueError, match=r"Unknown layer 'conv3'.*'conv2'.*'pool2'"):
        cl.explain(model, data(), "grad_cam", layer="conv3")
    with pytest.raises(ValueError, match="'fc' outputs shape .* no time axis"):
        cl.explain(model, data(), "grad_cam", layer="fc")
    with pytest.raises(TypeError, match="layer name or one of the model's layers"):
        cl.explain(model, data(), "grad_cam", layer=3)


def test_adapt_picks_the_keras_adapter(conv):
    model, _ = conv
    adapted = adapt(model)
    assert isinstance(adapted, KerasModel) and adapted.backend == BACKEND
    assert adapted.layers()[:2] == ["conv1", "bn1"]
    assert adapted.default_cam_layer(3, 40) == "pool2"
    cl.explain(model, data(), "grad_cam")
    # chronolens imports no framework that Keras itself has not imported
    assert {name for name in FRAMEWORKS if name in sys.modules} == IMPORTED_BY_KERAS


# ---------------------------------------------------------------------- the rest of the path
def nlc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 1))


@pytest.mark.parametrize("layer", ["conv1", "pool2"])
def test_activations_and_top_windows_parity(conv, layer):
    model, twin = conv
    x = data(6)
    got = cl.activations(model, nlc(x), layer, layout="nlc")
    expected = cl.activations(twin, x, layer)
    assert_same(got.values, expected.values)
    assert_same(got.aligned, expected.aligned)
    np.testing.assert_allclose(got.centres, expected.centres)
    windows = cl.top_windows(model, nlc(x), layer, 2, k=3, layout="nlc")
    reference = cl.top_windows(twin, x, layer, 2, k=3)
    np.testing.assert_array_equal(windows.cases, reference.cases)
    np.testing.assert_array_equal(windows.starts, reference.starts)
    assert_same(windows.windows, reference.windows)


def test_maximize_parity(conv):
    model, twin = conv
    x = data(8)
    kwargs = {"seed": 3, "n_restarts": 2, "n_steps": 15}
    got = cl.maximize(model, 1, reference=nlc(x), layout="nlc", **kwargs)
    expected = cl.maximize(twin, 1, reference=x, **kwargs)
    # Adam amplifies float rounding a little over the steps: compare at 1e-3 of the scale.
    scale = float(np.abs(expected.prototypes).max())
    np.testing.assert_allclose(got.prototypes, expected.prototypes, atol=1e-3 * scale)
    np.testing.assert_allclose(got.target_value, expected.target_value, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(got.nearest, expected.nearest)
    np.testing.assert_allclose(got.dtw, expected.dtw, rtol=1e-2)


@pytest.mark.parametrize("metric", ["deletion", "insertion"])
def test_faithfulness_parity(conv, metric):
    model, twin = conv
    x = data(5)
    got_map = cl.explain(model, nlc(x), "grad_cam", layout="nlc")
    expected_map = cl.explain(twin, x, "grad_cam")
    curve = getattr(cl.metrics, metric)
    got = curve(model, got_map, n_steps=8, baseline="noise", seed=1)
    expected = curve(twin, expected_map, n_steps=8, baseline="noise", seed=1)
    assert_same(got.scores, expected.scores)
    assert_same(got.random_scores, expected.random_scores)
    aopc = cl.metrics.aopc_score(model, got_map, n_steps=8)
    assert_same(aopc, cl.metrics.aopc_score(twin, expected_map, n_steps=8))


def test_randomization_parity_and_model_untouched(gap):
    """Same weights and layer names: the re-drawn weights, hence the correlations, agree."""
    model, twin = gap
    x = data(4)
    before = [np.array(w) for w in model.get_weights()]
    for randomization in ("cascading", "independent"):
        got = cl.metrics.model_randomization(
            model, nlc(x), "saliency", layout="nlc", randomization=randomization, seed=5
        )
        expected = cl.metrics.model_randomization(
            twin, x, "saliency", randomization=randomization, seed=5
        )
        assert got.stages == expected.stages == ("fc", "conv")
        np.testing.assert_allclose(got.absolute, expected.absolute, atol=2e-3)  # rank ties
        np.testing.assert_allclose(got.signed, expected.signed, atol=2e-3)
        assert got.passed == expected.passed
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, np.array(new))


def test_randomized_copy_redraws_only_the_named_layers(conv):
    model, _ = conv
    adapted = adapt(model)
    layers = adapted.weight_layers(None)
    assert layers == ["conv1", "bn1", "conv2", "bn2", "fc"]  # the forward order
    copy = adapted.randomized(["bn2", "conv1"], seed=0)
    assert copy is not model
    for name in layers:
        old = model.get_layer(name).get_weights()
        new = copy.get_layer(name).get_weights()
        changed = [not np.array_equal(a, b) for a, b in zip(old, new)]
        if name == "conv1":
            assert changed == [True, True]
        elif name == "bn2":  # gamma and beta re-drawn, moving statistics kept
            assert changed == [True, True, False, False]
        else:
            assert not any(changed)


def test_evaluate_and_report_run_the_sanity_check(gap, conv, tmp_path):
    model, twin = gap  # no Flatten: the twin's re-drawn weights are the Keras model's
    x = data(6)
    got = cl.metrics.evaluate(model, nlc(x), ["saliency"], layout="nlc", n_steps=5, sanity_cases=3)
    expected = cl.metrics.evaluate(twin, x, ["saliency"], n_steps=5, sanity_cases=3)
    row, reference = got.rows[0], expected.rows[0]
    assert row.sanity == reference.sanity and row.sanity.startswith(("pass", "FAIL"))
    np.testing.assert_allclose(row.deletion_auc, reference.deletion_auc, rtol=1e-4)
    np.testing.assert_allclose(row.insertion_auc, reference.insertion_auc, rtol=1e-4)
    model = conv[0]
    page = cl.report(
        model, nlc(x), layout="nlc", methods=["saliency"], out=tmp_path / "r.html", metric_cases=3
    ).read_text()
    assert '"sanity":{"rows":[{' in page  # a verdict, not a "not run" note
    assert '"prototypes":{"classes":[{' in page
