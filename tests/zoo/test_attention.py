"""zoo.attention_rnn: additive attention against a literal loop, seeding, training."""

import numpy as np
import pytest
import torch

import chronolens as cl
from chronolens import zoo
from chronolens.models import adapt


def _loop_attention(model, x):
    """Additive attention written out step by step from the module's parameters."""
    states, _ = model.rnn(torch.from_numpy(x).transpose(1, 2))
    W, b = model.attention.score.weight, model.attention.score.bias
    v = model.attention.energy.weight[0]
    weights = np.zeros((x.shape[0], x.shape[2]))
    logits = []
    for i in range(x.shape[0]):
        energies = [float(v @ torch.tanh(W @ states[i, s] + b)) for s in range(x.shape[2])]
        e = np.exp(np.array(energies) - max(energies))
        weights[i] = e / e.sum()
        context = sum(float(weights[i, s]) * states[i, s] for s in range(x.shape[2]))
        logits.append((model.fc.weight @ context + model.fc.bias).detach().numpy())
    return weights, np.array(logits)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_weights_and_logits_match_a_literal_loop(cell, bidirectional):
    model = zoo.attention_rnn(3, 4, hidden=5, cell=cell, bidirectional=bidirectional, seed=2).eval()
    x = np.random.default_rng(0).normal(size=(3, 3, 17)).astype(np.float32)
    with torch.no_grad():
        expected_w, expected_logits = _loop_attention(model, x)
        logits = model(torch.from_numpy(x)).numpy()
    weights = adapt(model).layer_output(torch.from_numpy(x), "attention.attention_weights")
    assert weights.shape == (3, 1, 17)
    np.testing.assert_allclose(weights[:, 0].numpy(), expected_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(weights.sum(-1).numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-4, atol=1e-6)


def test_seeded_without_touching_the_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    a = zoo.attention_rnn(2, 2, layers=2, seed=5)
    after = torch.rand(3)
    b = zoo.attention_rnn(2, 2, layers=2, seed=5)
    assert torch.equal(expected, after)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
    assert not torch.equal(a.fc.weight, zoo.attention_rnn(2, 2, layers=2, seed=6).fc.weight)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cell": "rnn"}, "`cell`.*'lstm' or 'gru'"),
        ({"hidden": 0}, "hidden"),
        ({"layers": 0}, "layers"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.attention_rnn(3, 2, **kwargs)


def test_any_length_and_fit_trains_it():
    X, y, _ = cl.datasets.make_sensor_events(60, n_channels=3, n_timepoints=100, n_classes=2)
    model = zoo.attention_rnn(3, 2, hidden=8, seed=0)
    history = zoo.fit(model, X, y, epochs=3, batch_size=16, lr=1e-2, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert not model.training
    assert model(torch.zeros(2, 3, 37)).shape == (2, 2)


def test_rnn_backward_in_eval_mode_on_cpu():
    model = zoo.attention_rnn(3, 2, hidden=4, layers=2, dropout=0.2, seed=0).eval()
    x = torch.randn(2, 3, 20, requires_grad=True)
    model(x)[:, 1].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
