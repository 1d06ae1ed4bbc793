"""ExtremalMask against planted ground truth, the objective at the returned mask and learned
replacement written out by hand (x m + (1 - m) NN(x) through a linear model), and the per-case
perturbation network against PyTorch's own nn.GRU and nn.Linear holding the same weights."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

import chronolens as cl
from chronolens.attribution import _perturbation_network as network
from chronolens.testing import assert_model_unchanged, model_state

C, T = 3, 30
WINDOW = slice(12, 20)


def window_model():
    """Class 1 = sum of channel 1 over WINDOW (+ 0.25); class 0 reads channel 0 everywhere."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(C * T, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        weight = torch.zeros(C, T)
        weight[1, WINDOW] = 1.0
        model[1].weight[1] = weight.flatten()
        model[1].weight[0, :T] = 0.1
        model[1].bias.copy_(torch.tensor([0.0, 0.25]))
    return model.eval()


def window_series(n=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.3, size=(n, C, T))
    x[:, 1, WINDOW] += 1.5
    return x.astype(np.float32)


def truth():
    mask = np.zeros((C, T), dtype=bool)
    mask[1, WINDOW] = True
    return mask


def score(model, series):
    with torch.no_grad():
        return model(torch.as_tensor(series, dtype=torch.float32))[:, 1].numpy().astype(float)


def test_planted_window_is_found():
    x = window_series(n=2)
    exp = cl.explain(
        window_model(), x, "extremal_mask", target=1, n_steps=40, learning_rate=0.05, seed=0
    )
    assert exp.attributions.min() >= 0.0 and exp.attributions.max() <= 1.0
    for case in exp.attributions:
        assert roc_auc_score(truth().ravel(), case.ravel()) > 0.9
        assert case[truth()].mean() > case[~truth()].mean() + 0.4


@pytest.mark.parametrize("baseline", ["zeros", 0.4])
def test_reported_losses_are_the_objective_at_the_returned_mask_and_replacement(baseline):
    model = window_model()
    x = window_series(n=2, seed=1)
    exp = cl.explain(
        model,
        x,
        "extremal_mask",
        target=1,
        n_steps=4,
        learning_rate=0.05,
        lambda_1=0.7,
        lambda_2=1.3,
        baseline=baseline,
        seed=3,
    )
    values = exp.extras["replacement"].astype(float)
    for i, mask in enumerate(exp.attributions.astype(float)):
        perturbed = x[i] * mask + (1 - mask) * values[i]  # only the masked-out part replaced
        error = (score(model, perturbed[None])[0] - score(model, x[i : i + 1])[0]) ** 2
        mask_loss = 0.7 * np.abs(mask).mean()
        perturbation_loss = 1.3 * np.abs(values[i]).mean()
        np.testing.assert_allclose(exp.extras["error"][i], error, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(exp.extras["mask_loss"][i], mask_loss, rtol=1e-5)
        np.testing.assert_allclose(exp.extras["perturbation_loss"][i], perturbation_loss, rtol=1e-5)
        total = error + mask_loss + perturbation_loss
        np.testing.assert_allclose(exp.extras["loss"][i], total, rtol=1e-4, atol=1e-5)


def test_the_network_is_pytorchs_bidirectional_gru_and_linear():
    hidden = 4
    start = network.initial_weights(C, hidden, seed=5)
    gru = nn.GRU(C, hidden, batch_first=True, bidirectional=True)
    linear = nn.Linear(2 * hidden, C)
    with torch.no_grad():
        for name in network.GRU_NAMES:
            getattr(gru, name + "_l0").copy_(start[name])
            getattr(gru, name + "_l0_reverse").copy_(start[name + "_reverse"])
        linear.weight.copy_(start["readout_weight"])
        linear.bias.copy_(start["readout_bias"])
    inputs = torch.from_numpy(window_series(n=3, seed=2))
    with torch.no_grad():
        got = network.replacement_values(inputs, network.per_case(start, 3))
        states, _ = gru(inputs.transpose(1, 2))  # (n, t, 2 hidden)
        expected = linear(states).transpose(1, 2)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # PyTorch's initialisation ranges: +-1/sqrt(hidden) for the GRU, +-1/sqrt(fan_in) after.
    assert float(start["weight_hh"].abs().max()) <= 1 / np.sqrt(hidden)
    assert float(start["readout_weight"].abs().max()) <= 1 / np.sqrt(2 * hidden)


def test_seed_reproduces_the_map_and_the_model_is_untouched():
    model = window_model()
    before = model_state(model)
    x = window_series(n=2)
    params = dict(target=1, n_steps=4, learning_rate=0.05)
    first = cl.explain(model, x, "extremal_mask", seed=7, **params)
    again = cl.explain(model, x, "extremal_mask", seed=7, **params)
    other = cl.explain(model, x, "extremal_mask", seed=8, **params)
    np.testing.assert_array_equal(first.attributions, again.attributions)
    assert not np.array_equal(first.extras["replacement"], other.extras["replacement"])
    assert first.extras["seed"] == 7 and first.extras["hidden_size"] == C
    assert_model_unchanged(model, before)
    np.testing.assert_array_equal(x, window_series(n=2))


def test_a_case_alone_equals_the_case_in_a_batch():
    model = window_model()
    x = window_series(n=3, seed=4)
    params = dict(target=1, n_steps=5, learning_rate=0.05, seed=2)
    batch = cl.explain(model, x, "extremal_mask", batch_size=3, **params)
    alone = cl.explain(model, x[2:3], "extremal_mask", batch_size=1, **params)
    np.testing.assert_allclose(alone.attributions[0], batch.attributions[2], atol=1e-5)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"lambda_1": -1.0}, "`lambda_1` must be at least 0"),
        ({"hidden_size": 0}, "`hidden_size` must be at least 1"),
        ({"learning_rate": 0.0}, "`learning_rate` must be greater than 0"),
        ({"baseline": "local_mean"}, "baseline"),
    ],
)
def test_bad_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        cl.explain(window_model(), window_series(n=1), "extremal_mask", target=1, **params)
