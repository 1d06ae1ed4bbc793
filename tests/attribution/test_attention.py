"""explain(method="attention"): the weights as a map, the model untouched, planted evidence."""

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens import zoo
from chronolens.metrics import average_precision_score
from chronolens.models.base import CapabilityError
from chronolens.testing import assert_model_unchanged, model_state, tiny_conv_model


def _x(n=4, c=3, t=30, seed=0):
    return np.random.default_rng(seed).normal(size=(n, c, t)).astype(np.float32)


def _weights_by_hand(model, x):
    """Softmax over time of v . tanh(W h + b), from the module's parameters (no hooks)."""
    with torch.no_grad():
        states, _ = model.rnn(torch.from_numpy(x).transpose(1, 2))
        a = model.attention
        energy = torch.tanh(states @ a.score.weight.T + a.score.bias) @ a.energy.weight[0]
        return torch.softmax(energy, dim=1).numpy()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_map_equals_the_weights_and_is_class_agnostic(cell):
    model = zoo.attention_rnn(3, 3, hidden=6, cell=cell, seed=1).eval()
    x = _x()
    exp = cl.explain(model, x, "attention", target=0)
    other = cl.explain(model, x, "attention", target=2)
    assert exp.attributions.shape == (4, 1, 30)
    np.testing.assert_allclose(exp.attributions[:, 0], _weights_by_hand(model, x), rtol=1e-5)
    np.testing.assert_allclose(exp.attributions.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(exp.attributions, other.attributions)
    assert exp.extras["class_agnostic"] is True
    assert exp.extras["layer"] == "attention.attention_weights"
    np.testing.assert_array_equal(exp.extras["layer_centers"], np.arange(30))


def test_explain_leaves_the_model_untouched():
    model = zoo.attention_rnn(3, 2, hidden=4, layers=2, dropout=0.1, seed=0)
    model.train()
    model.rnn.eval()
    model.fc.weight.grad = torch.ones_like(model.fc.weight)
    before = model_state(model)
    for method in ("attention", "saliency", "integrated_gradients", "occlusion"):
        cl.explain(model, _x(2), method)
        assert_model_unchanged(model, before)


def test_a_model_without_attention_is_refused_with_the_fix():
    with pytest.raises(CapabilityError, match="zoo.attention_rnn.*'integrated_gradients'"):
        cl.explain(tiny_conv_model(n_channels=3, n_classes=2), _x(2, t=40), "attention")


def test_attention_layer_by_name_and_bad_names():
    model = zoo.attention_rnn(3, 2, hidden=4, seed=0)
    exp = cl.explain(model, _x(2), "attention", attention_layer="attention.attention_weights")
    assert exp.extras["layer"] == "attention.attention_weights"
    with pytest.raises(ValueError, match="`attention_layer`='nope'"):
        cl.explain(model, _x(2), "attention", attention_layer="nope")
    with pytest.raises(ValueError, match=r"shape \(n, 1, positions\)"):
        cl.explain(model, _x(2), "attention", attention_layer="fc")


class ConvAttention(nn.Module):
    """A "valid" convolution (kernel 5, stride 2) then attention: positions are not time steps."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 5, stride=2)
        self.pool = zoo.AdditiveAttention(4, 4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x).transpose(1, 2)))


def test_attention_after_convolutions_is_placed_at_receptive_field_centres():
    torch.manual_seed(0)
    model = ConvAttention().eval()
    exp = cl.explain(model, _x(2, t=31), "attention")
    # Position j of a kernel-5, stride-2 "valid" convolution covers inputs 2j .. 2j+4.
    np.testing.assert_allclose(exp.extras["layer_centers"], 2 * np.arange(14) + 2)
    layer_map = exp.extras["layer_map"]
    np.testing.assert_allclose(exp.attributions[:, 0, 2::2][:, :14], layer_map, rtol=1e-5)


def test_rnn_models_work_with_post_hoc_methods():
    model = zoo.attention_rnn(3, 2, hidden=4, seed=0).eval()
    x = _x(3)
    ig = cl.explain(model, x, "integrated_gradients", n_steps=64)
    with torch.no_grad():
        logits = model(torch.from_numpy(x))[np.arange(3), ig.target]
        at_zero = model(torch.zeros(3, 3, 30))[np.arange(3), ig.target]
    # Completeness: IG sums to the score difference from the zero baseline.
    np.testing.assert_allclose(ig.attributions.sum((1, 2)), logits - at_zero, atol=2e-3)
    for method in ("saliency", "occlusion"):
        assert np.isfinite(cl.explain(model, x, method).attributions).all()


def test_planted_window_is_found_above_chance():
    # Measured: accuracy 1.0, AP of IG ~0.36 and of attention ~0.13 against chance ~0.033.
    X, y, mask = cl.datasets.make_sensor_events(
        96, n_channels=3, n_timepoints=100, n_classes=2, noise=0.3, seed=3
    )
    model = zoo.attention_rnn(3, 2, hidden=8, cell="gru", bidirectional=False, seed=0)
    zoo.fit(model, X[:64], y[:64], epochs=10, batch_size=16, lr=2e-2, seed=0, progress=False)
    assert zoo.accuracy(model, X[64:], y[64:]) >= 0.9
    chance = mask[64:].mean()
    ig = cl.explain(model, X[64:], "integrated_gradients", target=y[64:], n_steps=8)
    att = cl.explain(model, X[64:], "attention")
    ap_ig = np.nanmean(average_precision_score(ig, mask[64:]))
    ap_att = np.nanmean(average_precision_score(att, mask[64:]))
    assert ap_ig > 5 * chance, (ap_ig, chance)
    assert ap_att > 2 * chance, (ap_att, chance)
