"""LIME against scikit-learn's weighted ridge, LIME's kernel, and an additive closed form.

The references: scikit-learn's ``Ridge`` (the regressor the LIME package uses) fitted with the
recorded coalitions, a literal loop that scores each coalition by replacing absent players'
points, and LIME's kernel on scikit-learn's cosine distances.
"""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances
from torch import nn

import chronolens as cl
from chronolens.attribution.lime import lime_coalitions, lime_weights


def _net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 12, 3)
    ).eval()


def test_kernel_is_limes_on_cosine_distance():
    coalitions = lime_coalitions(7, 50, seed=0)
    assert coalitions[0].all()
    distance = pairwise_distances(coalitions, coalitions[:1], metric="cosine").ravel()
    np.testing.assert_allclose(
        lime_weights(coalitions, 0.25), np.sqrt(np.exp(-(distance**2) / 0.25**2)), rtol=1e-10
    )


def test_lime_is_sklearn_ridge_on_the_scored_coalitions():
    model = _net()
    x = np.random.default_rng(0).normal(size=(2, 2, 12)).astype(np.float32)
    exp = cl.explain(model, x, "lime", target=1, n_segments=3, n_samples=40, seed=5)
    coalitions = lime_coalitions(6, 40, seed=5)  # players: 3 segments x 2 channels
    segment = np.repeat(np.arange(3), 4)
    for i in range(2):
        scores = []
        for row in coalitions:  # literal: absent players' points set to the zero baseline
            series = x[i].copy()
            for player, present in enumerate(row):
                channel, seg = divmod(player, 3)
                if not present:
                    series[channel, segment == seg] = 0.0
            with torch.no_grad():
                scores.append(float(model(torch.from_numpy(series[None]))[0, 1]))
        distance = pairwise_distances(coalitions, coalitions[:1], metric="cosine").ravel()
        weights = np.sqrt(np.exp(-(distance**2) / 0.25**2))
        ridge = Ridge(alpha=1.0).fit(coalitions.astype(float), scores, sample_weight=weights)
        np.testing.assert_allclose(
            exp.extras["player_values"][i], ridge.coef_, rtol=1e-4, atol=1e-6
        )
        np.testing.assert_allclose(
            exp.extras["intercept"][i], ridge.intercept_, rtol=1e-4, atol=1e-5
        )
        spread = np.repeat(ridge.coef_.reshape(2, 3), 4, axis=1) / 4
        np.testing.assert_allclose(exp.attributions[i], spread, rtol=1e-4, atol=1e-6)


def test_an_additive_model_is_recovered_exactly_without_penalty():
    # f(x) = sum over players of a weight times the player's mean: additive in the coalition.
    torch.manual_seed(1)
    model = nn.Sequential(nn.AvgPool1d(4), nn.Flatten(), nn.Linear(2 * 3, 2)).eval()
    x = np.random.default_rng(1).normal(size=(3, 2, 12)).astype(np.float32)
    exp = cl.explain(model, x, "lime", target=0, n_segments=3, n_samples=200, alpha=0.0)
    means = x.reshape(3, 2, 3, 4).mean(axis=3).reshape(3, 6)
    contribution = model[2].weight[0].detach().numpy() * means  # each player's exact effect
    np.testing.assert_allclose(exp.extras["player_values"], contribution, rtol=1e-4, atol=1e-5)


def test_black_boxes_work_and_bad_widths_are_refused():
    def box(x):
        return np.stack([x[:, 0].sum(axis=1), -x[:, 1].sum(axis=1)], axis=1)

    x = np.random.default_rng(2).normal(size=(1, 2, 12)).astype(np.float32)
    exp = cl.explain(box, x, "lime", target=0, n_segments=3, n_samples=60, alpha=0.0)
    np.testing.assert_allclose(exp.attributions[0, 1], 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="kernel_width"):
        cl.explain(box, x, "lime", kernel_width=0.0)
