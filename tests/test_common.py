"""Checks every registered method passes, generated from the registry (chronolens.testing)."""

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens import zoo
from chronolens.registry import get_method
from chronolens.testing import assert_model_unchanged, check_method, model_state, tiny_conv_model

ALL = cl.methods().names()
# Methods that read dimension-wise networks (dcam) are checked on a tiny d-CNN instead.
DIMENSION_WISE = {m for m in ALL if get_method(m).layer_rank == 4}
# Methods that read a model's own multiple-instance head (mil) are checked on a tiny
# zoo.mil_channels (its map is per channel; zoo.mil's shared maps: tests/attribution).
SELF_EXPLAINING = {m for m in ALL if get_method(m).family == "self_explaining"}
# Methods that read a model's attention weights (attention) are checked on a tiny attention_rnn.
ATTENTION = {m for m in ALL if get_method(m).family == "attention"}


def _tiny_attention(n_channels=3, n_classes=3, seed=1):
    return zoo.attention_rnn(n_channels, n_classes, hidden=4, seed=seed).eval()


def _tiny_mil(n_channels=3, n_classes=3, seed=1):
    return zoo.mil_channels(n_channels, n_classes, filters=(3, 4), kernel_sizes=(5, 3), seed=seed)


def _tiny_dcnn(n_channels=3, n_classes=3, seed=1):
    return zoo.dcnn(n_channels, n_classes, filters=(4, 4), seed=seed)


@pytest.mark.parametrize("method", ALL)
def test_common_checks_tiny_model(method, tiny, tiny_x):
    model = _tiny_dcnn() if method in DIMENSION_WISE else tiny
    model = _tiny_mil() if method in SELF_EXPLAINING else model
    model = _tiny_attention() if method in ATTENTION else model
    check_method(method, model, tiny_x)  # with the registry entry's test_params


@pytest.mark.parametrize("method", [m for m in ALL if m != "cam"])
def test_common_checks_user_architecture(method, user_model, user_x):
    model = _tiny_dcnn(9, 4) if method in DIMENSION_WISE else user_model
    model = _tiny_mil(9, 4) if method in SELF_EXPLAINING else model
    model = _tiny_attention(9, 4) if method in ATTENTION else model
    check_method(method, model, user_x[:3])


class FailAfter(nn.Module):
    """Wraps a model; its forward raises on call number ``fail_at``."""

    def __init__(self, model, fail_at):
        super().__init__()
        self.model = model
        self.fail_at = fail_at
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return self.model(x)


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("fail_at", [2, 3, 5])
def test_model_restored_after_an_exception_mid_run(method, fail_at, tiny_x):
    if method in DIMENSION_WISE:
        inner = _tiny_dcnn(seed=4)
        bn1, conv1 = inner.features.bn1, inner.features.conv1
    elif method in SELF_EXPLAINING:
        inner = _tiny_mil(seed=4)
        inner.fc = inner.head.classifier  # the same module under the name the test reads
        bn1, conv1 = inner.backbone.bn1, inner.backbone.conv1
    elif method in ATTENTION:
        inner = _tiny_attention(seed=4)
        bn1, conv1 = inner.rnn, inner.attention.score  # a per-module flag, a frozen weight
    else:
        inner = tiny_conv_model(n_channels=3, n_classes=3, seed=4)
        bn1, conv1 = inner.bn1, inner.conv1
    inner.train()  # a model left in training mode must come back in training mode
    bn1.eval()  # ... with its own per-module flags
    conv1.weight.requires_grad_(False)
    inner.fc.weight.grad = torch.ones_like(inner.fc.weight)
    model = FailAfter(inner, fail_at)
    before = model_state(model)
    x = tiny_x.copy()
    try:
        cl.explain(model, x, method, batch_size=2, **get_method(method).test_params)
    except RuntimeError as error:
        assert "boom" in str(error)
    assert_model_unchanged(model, before)
    np.testing.assert_array_equal(x, tiny_x)


def test_training_mode_model_is_explained_in_eval_mode(tiny, tiny_x):
    eval_map = cl.explain(tiny, tiny_x, "saliency").attributions
    tiny.train()
    train_map = cl.explain(tiny, tiny_x, "saliency").attributions
    assert tiny.training
    np.testing.assert_array_equal(eval_map, train_map)


def test_torch_input_is_not_modified_and_stays_on_its_device(tiny, tiny_x):
    x = torch.from_numpy(tiny_x.copy())
    exp = cl.explain(tiny, x, "integrated_gradients", n_steps=4)
    assert torch.equal(x, torch.from_numpy(tiny_x)) and not x.requires_grad
    assert isinstance(exp.attributions, np.ndarray)


def test_float64_model(tiny_x):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1).double()
    exp = cl.explain(model, tiny_x, "saliency")
    reference = cl.explain(tiny_conv_model(n_channels=3, n_classes=3, seed=1), tiny_x, "saliency")
    np.testing.assert_allclose(exp.attributions, reference.attributions, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------- clear errors
@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.full((2, 3, 40), np.nan, dtype=np.float32), "NaN or infinite"),
        (np.zeros(40), "2-D or 3-D.*x\\[None, :\\]"),
        (np.zeros((2, 2, 3, 40)), "2-D or 3-D"),
        (np.zeros((2, 0, 40)), "empty"),
    ],
)
def test_bad_series(tiny, x, match):
    with pytest.raises(ValueError, match=match):
        cl.explain(tiny, x, "saliency")


def test_infinite_value_is_located(tiny, tiny_x):
    x = tiny_x.copy()
    x[1, 2, 7] = np.inf
    with pytest.raises(ValueError, match="case 1, channel 2, time 7"):
        cl.explain(tiny, x, "saliency")


def test_wrong_channel_count_names_both_readings(tiny, rng):
    x = rng.normal(size=(2, 40, 3)).astype(np.float32)  # channels-last by mistake
    with pytest.raises(ValueError, match="layout='nlc'.*n_channels=3, n_timepoints=40"):
        cl.explain(tiny, x, "saliency")
    assert cl.explain(tiny, x, "saliency", layout="nlc").attributions.shape == (2, 3, 40)


def test_channel_mismatch_message_names_expected_channels(tiny, rng):
    with pytest.raises(ValueError, match="expects 3 channels"):
        cl.explain(tiny, rng.normal(size=(2, 5, 40)).astype(np.float32), "saliency")


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        (3, ValueError, "out of range.*0..2"),
        (-1, ValueError, "out of range"),
        ([0, 1], ValueError, "2 classes for 5 cases"),
        ([0.5] * 5, TypeError, "dtype float"),
        (lambda out: out, ValueError, "one score per case"),
    ],
)
def test_bad_target(tiny, tiny_x, target, error, match):
    with pytest.raises(error, match=match):
        cl.explain(tiny, tiny_x, "saliency", target=target)


def test_unknown_method_suggests_names(tiny, tiny_x):
    with pytest.raises(ValueError, match="Did you mean 'grad_cam'"):
        cl.explain(tiny, tiny_x, "gradcam")


def test_unknown_parameter_lists_parameters(tiny, tiny_x):
    with pytest.raises(
        TypeError, match="Did you mean .n_steps..*baseline, max_steps, n_steps, rule, tolerance"
    ):
        cl.explain(tiny, tiny_x, "integrated_gradients", steps=10)


def test_unknown_layer_lists_candidates(tiny, tiny_x):
    with pytest.raises(ValueError, match="Unknown layer 'conv3'.*Did you mean.*'conv2'.*'relu2'"):
        cl.explain(tiny, tiny_x, "grad_cam", layer="conv3")


def test_layer_without_time_axis(tiny, tiny_x):
    with pytest.raises(ValueError, match="'fc' outputs shape \\(1, 3\\).*no time axis"):
        cl.explain(tiny, tiny_x, "grad_cam", layer="fc")
    with pytest.raises(ValueError, match="not a submodule"):
        cl.explain(tiny, tiny_x, "grad_cam", layer=nn.Conv1d(1, 1, 1))


def test_layer_on_a_method_without_layers(tiny, tiny_x):
    with pytest.raises(TypeError, match="does not read a layer"):
        cl.explain(tiny, tiny_x, "saliency", layer="conv1")


def test_non_score_output_needs_callable_target(rng):
    per_step = nn.Conv1d(3, 2, 3, padding=1)  # output (n, 2, t): a per-timestep head
    x = rng.normal(size=(2, 3, 30)).astype(np.float32)
    with pytest.raises(ValueError, match="not \\(n_cases, n_classes\\).*callable `target`"):
        cl.explain(per_step, x, "saliency")
    exp = cl.explain(per_step, x, "saliency", target=lambda out: out[:, 1, 10], abs=False)
    assert exp.target is None and exp.scores.shape == (2, 1)
    # d out[1, 10] / d x is the kernel of output channel 1, placed around time 10.
    weight = per_step.weight[1].detach().numpy()
    np.testing.assert_allclose(exp.attributions[0][:, 9:12], weight, rtol=1e-6)
    assert np.abs(exp.attributions[0][:, :9]).max() == 0


def test_seed_is_accepted_and_ignored_by_deterministic_methods(tiny, tiny_x):
    # Callers pass `seed` to every method without branching on whether it is randomized.
    plain = cl.explain(tiny, tiny_x, "saliency")
    seeded = cl.explain(tiny, tiny_x, "saliency", seed=1)
    np.testing.assert_array_equal(plain.attributions, seeded.attributions)
    assert "seed" not in seeded.params


def test_bad_runtime_arguments(tiny, tiny_x):
    with pytest.raises(ValueError, match="batch_size"):
        cl.explain(tiny, tiny_x, "saliency", batch_size=0)
    with pytest.raises(ValueError, match="layout"):
        cl.explain(tiny, tiny_x, "saliency", layout="nct")
    with pytest.raises(ValueError, match="seed"):
        cl.explain(tiny, tiny_x, "smoothgrad", seed=-1)
    with pytest.raises(ValueError, match=r"at most 2\*\*63|at most 9223372036854775807"):
        cl.explain(tiny, tiny_x, "smoothgrad", seed=2**64)
    with pytest.raises(ValueError, match="n_steps"):
        cl.explain(tiny, tiny_x, "integrated_gradients", n_steps=0)
    with pytest.raises(TypeError, match="cannot explain"):
        cl.explain(object(), tiny_x, "saliency")


def test_model_returning_a_tuple(tiny_x):
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = tiny_conv_model(n_channels=3, n_classes=2)

        def forward(self, x):
            return self.inner(x), x

    with pytest.raises(TypeError, match="returned tuple"):
        cl.explain(Pair(), tiny_x, "saliency")
    exp = cl.explain(Pair(), tiny_x, "saliency", target=lambda out: out[0][:, 1])
    assert exp.attributions.shape == tiny_x.shape
