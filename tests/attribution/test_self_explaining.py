"""explain(method="mil"): the MIL head's own interpretation, exact, aligned, and harmless."""

import math
import time

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens import zoo
from chronolens.models.base import CapabilityError
from chronolens.testing import assert_model_unchanged, model_state, tiny_conv_model


def _model(pooling, n_classes=3, seed=0):
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Conv1d(2, 6, 5), nn.ReLU())  # "valid": centre of j is j + 2
    return zoo.mil(backbone, n_classes, pooling, seed=seed).eval()


def _x(n=4, t=30, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 2, t)).astype(np.float32)


def _contributions(model, x):
    """Per-position class contributions by a loop over positions (instance / conjunctive)."""
    head = model.head
    features = model.backbone(torch.from_numpy(x)).detach().double().numpy()
    w = head.classifier.weight.detach().double().numpy()[:, :, 0]
    b = head.classifier.bias.detach().double().numpy()
    n, d, t = features.shape
    out = np.zeros((n, w.shape[0], t))
    for i in range(n):
        for p in range(t):
            z = features[i, :, p] + [
                math.sin(p / 1e4 ** ((j - j % 2) / d))
                if j % 2 == 0
                else math.cos(p / 1e4 ** ((j - j % 2) / d))
                for j in range(d)
            ]
            out[i, :, p] = w @ z + b
            if head.pooling == "conjunctive":
                a1 = head.attention_head[0].weight.detach().double().numpy()[:, :, 0]
                b1 = head.attention_head[0].bias.detach().double().numpy()
                a2 = head.attention_head[2].weight.detach().double().numpy()[0, :, 0]
                b2 = float(head.attention_head[2].bias.detach()[0])
                out[i, :, p] *= 1 / (1 + math.exp(-(a2 @ np.tanh(a1 @ z + b1) + b2)))
    return out


@pytest.mark.parametrize("pooling", ["instance", "conjunctive"])
def test_layer_map_is_the_target_class_contribution_and_sums_exactly(pooling):
    model, x = _model(pooling), _x()
    exp = cl.explain(model, x, "mil", target=[0, 1, 2, 1])
    expected = _contributions(model, x)[np.arange(4), [0, 1, 2, 1]]
    np.testing.assert_allclose(exp.extras["layer_map"], expected, rtol=1e-5, atol=1e-5)
    logits = model(torch.from_numpy(x)).detach().numpy()[np.arange(4), [0, 1, 2, 1]]
    np.testing.assert_allclose(exp.extras["layer_map"].mean(axis=-1), logits, atol=1e-5)
    assert exp.extras["pooling"] == pooling and exp.extras["exact"]
    assert exp.extras["layer"] == "head.interpretation"


def test_additive_map_sums_exactly_to_the_logit():
    model, x = _model("additive"), _x()
    exp = cl.explain(model, x, "mil")
    logits = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(
        exp.extras["layer_map"].mean(axis=-1), logits[np.arange(4), exp.target], atol=1e-5
    )
    assert exp.extras["pooling"] == "additive"


def test_attention_pooling_returns_the_class_agnostic_weights():
    model, x = _model("attention"), _x()
    first = cl.explain(model, x, "mil", target=0)
    second = cl.explain(model, x, "mil", target=2)
    weights = model.head.attention_head(
        model.head.positional_encoding(model.backbone(torch.from_numpy(x)))
    )
    np.testing.assert_allclose(first.extras["layer_map"], weights[:, 0].detach().numpy(), atol=1e-6)
    np.testing.assert_array_equal(first.attributions, second.attributions)
    assert first.extras["class_agnostic"] and not first.extras["exact"]
    assert first.extras["pooling"] == "attention"


def test_map_is_placed_at_receptive_field_centres():
    model, x = _model("instance"), _x(t=30)
    exp = cl.explain(model, x, "mil")
    np.testing.assert_allclose(exp.extras["layer_centers"], np.arange(26) + 2.0)
    assert exp.attributions.shape == (4, 1, 30)
    layer_map = exp.extras["layer_map"]
    np.testing.assert_allclose(exp.attributions[:, 0, 2:28], layer_map, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exp.attributions[:, 0, 0], layer_map[:, 0], rtol=1e-5)  # held


def test_model_without_a_head_gets_a_capability_error():
    with pytest.raises(CapabilityError, match=r"zoo\.mil.*'grad_cam'"):
        cl.explain(tiny_conv_model(n_channels=2, n_classes=3), _x(), "mil")


def test_probabilities_are_refused():
    model = nn.Sequential(_model("instance"), nn.Softmax(dim=1))
    with pytest.raises(ValueError, match="mean over time"):
        cl.explain(model, _x(), "mil")


@pytest.mark.parametrize("pooling", ["conjunctive", "attention"])
def test_model_is_untouched(pooling):
    model = _model(pooling).train()
    model.head.classifier.weight.grad = torch.ones_like(model.head.classifier.weight)
    before = model_state(model)
    cl.explain(model, _x(), "mil", batch_size=2)
    assert_model_unchanged(model, before)
    assert model.training


def _planted(n, t, rng):
    """Class 1 holds a bump in a random 8-point window; class 0 is noise only."""
    x = rng.normal(scale=0.5, size=(n, 1, t)).astype(np.float32)
    y = rng.integers(0, 2, size=n)
    mask = np.zeros((n, 1, t), dtype=bool)
    for i in np.nonzero(y)[0]:
        start = rng.integers(0, t - 8)
        x[i, 0, start : start + 8] += 2.0
        mask[i, 0, start : start + 8] = True
    return x, y, mask


def test_planted_window_is_found_far_above_chance():
    started = time.process_time()  # CPU seconds: wall time depends on who else shares the CPUs
    rng = np.random.default_rng(0)
    x, y, _ = _planted(96, 50, rng)
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU())
    model = zoo.mil(backbone, 2, "conjunctive", seed=0)
    zoo.fit(model, x, y, epochs=8, batch_size=32, lr=1e-2, progress=False)
    x_test, y_test, mask = _planted(40, 50, rng)
    positive = y_test == 1
    exp = cl.explain(model, x_test[positive], "mil", target=1)
    ap = cl.metrics.average_precision_score(exp, mask[positive], absolute=False)
    chance = mask[positive].mean()
    assert np.mean(ap) > 0.7 > 3 * chance, (np.mean(ap), chance)
    assert time.process_time() - started < 10


@pytest.mark.parametrize("mixer", [False, True])
def test_channel_time_map_is_an_exact_decomposition(mixer):
    model = zoo.mil_channels(3, 2, filters=(3, 4), kernel_sizes=(5, 3), mixer=mixer, seed=3).eval()
    x = np.random.default_rng(1).normal(size=(4, 3, 25)).astype(np.float32)
    exp = cl.explain(model, x, "mil", target=1)
    assert exp.attributions.shape == (4, 3, 25) and exp.per_channel
    logits = model(torch.from_numpy(x)).detach().numpy()[:, 1]
    np.testing.assert_allclose(exp.extras["layer_map"].mean(axis=(1, 2)), logits, atol=1e-5)
    # "same" padding: each (channel, time) instance sits at its own time point
    np.testing.assert_allclose(exp.extras["layer_centers"], np.arange(25.0))


def test_channel_streams_keep_evidence_in_its_channel():
    model = zoo.mil_channels(3, 2, filters=(3, 4), kernel_sizes=(5, 3), seed=3).eval()
    x = np.random.default_rng(1).normal(size=(2, 3, 25)).astype(np.float32)
    changed = x.copy()
    changed[:, 1] += 3.0  # only channel 1 moves
    before = cl.explain(model, x, "mil", target=0).attributions
    after = cl.explain(model, changed, "mil", target=0).attributions
    # conjunctive: each instance's score and attention read its own channel's stream only
    np.testing.assert_allclose(after[:, [0, 2]], before[:, [0, 2]], rtol=1e-5, atol=1e-6)
    assert np.abs(after[:, 1] - before[:, 1]).max() > 1e-3
