"""Occlusion, feature ablation and Shapley values: Captum, closed forms, brute force."""

import itertools
import math

import numpy as np
import pytest
import torch
from captum.attr import FeatureAblation, Occlusion
from tests.attribution.untraceable import Untraceable
from torch import nn

import chronolens as cl
from chronolens import zoo
from chronolens.testing.models import _randomise_norms


def _strided_model(head="flatten"):
    layers = [
        nn.Conv1d(3, 6, 5, stride=2, dilation=2, padding=3),
        nn.BatchNorm1d(6),
        nn.ReLU(inplace=True),
        nn.MaxPool1d(3, stride=2, padding=1),
        nn.Conv1d(6, 5, 4, padding="same"),
        nn.GELU(),
        nn.AvgPool1d(2),
        nn.Conv1d(5, 4, 3, dilation=3),
        nn.Dropout(0.5),
    ]
    torch.manual_seed(0)
    if head == "flatten":
        model = nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(3))
    else:
        model = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 3))
    model(torch.zeros(2, 3, 90))
    _randomise_norms(model, torch.Generator().manual_seed(1))
    return model.eval()


@pytest.fixture
def x90(rng):
    return rng.normal(size=(3, 3, 90)).astype(np.float32)


@pytest.mark.parametrize("head", ["flatten", "gap"])
@pytest.mark.parametrize("channels", ["each", "all"])
@pytest.mark.parametrize("baseline", ["zeros", "mean", "noise", "local_mean", 0.5])
def test_incremental_equals_full_recomputation(head, channels, baseline, x90):
    model = _strided_model(head)
    params = dict(window=7, stride=3, channels=channels, baseline=baseline, seed=3, target=1)
    fast = cl.explain(model, x90, "occlusion", **params)
    full = cl.explain(Untraceable(model), x90, "occlusion", **params)
    assert fast.extras["occlusion_path"] == "incremental-chain"
    assert full.extras["occlusion_path"] == "full"
    scale = np.abs(full.attributions).max()
    np.testing.assert_allclose(fast.attributions, full.attributions, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("channels", ["each", "all"])
def test_occlusion_matches_captum_on_user_architecture(user_model, user_x, channels):
    x = user_x[:3]
    exp = cl.explain(user_model, x, "occlusion", window=15, stride=5, channels=channels)
    assert exp.extras["occlusion_path"] == "incremental-chain"
    shape, strides = ((1, 15), (1, 5)) if channels == "each" else ((9, 15), (9, 5))
    expected = (
        Occlusion(user_model)
        .attribute(
            torch.from_numpy(x),
            sliding_window_shapes=shape,
            strides=strides,
            target=torch.as_tensor(exp.target),
            baselines=0.0,
        )
        .numpy()
    )
    if channels == "all":
        expected = expected[:, :1]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-5 * scale)


def test_occlusion_mean_baseline_matches_captum(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "occlusion", window=6, stride=4, baseline="mean")
    means = torch.from_numpy(tiny_x).mean(dim=-1, keepdim=True).expand(-1, -1, 40).contiguous()
    expected = (
        Occlusion(tiny)
        .attribute(
            torch.from_numpy(tiny_x),
            sliding_window_shapes=(1, 6),
            strides=(1, 4),
            target=torch.as_tensor(exp.target),
            baselines=means,
        )
        .numpy()
    )
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-6)


def test_occlusion_closed_form_on_linear_model(linear, linear_x):
    """Occluding a window drops a linear score by sum(W * (x - baseline)) over the window."""
    weight = linear[1].weight.detach().numpy().reshape(3, 3, 20)
    exp = cl.explain(linear, linear_x, "occlusion", window=4, stride=2, target=2, baseline=0.25)
    assert exp.extras["occlusion_path"] == "full"  # Flatten first: no local layers
    drops = exp.extras["window_drops"]
    starts = range(0, 20 - 4 + 1, 2)  # 2 divides 20 - 4: every window is whole
    contribution = weight[2] * (linear_x - 0.25)
    expected = np.stack(
        [contribution[:, c, s : s + 4].sum(-1) for c in range(3) for s in starts], 1
    )
    np.testing.assert_allclose(drops, expected, rtol=1e-4, atol=1e-6)


def test_feature_ablation_matches_captum(user_model, user_x):
    x = user_x[:2]
    exp = cl.explain(user_model, x, "feature_ablation", n_segments=7, target=0)
    edges = np.linspace(0, 300, 8).round().astype(int)
    mask = np.zeros((1, 9, 300), dtype=np.int64)
    for c in range(9):
        for s in range(7):
            mask[0, c, edges[s] : edges[s + 1]] = c * 7 + s
    expected = (
        FeatureAblation(user_model)
        .attribute(
            torch.from_numpy(x), target=0, feature_mask=torch.from_numpy(mask), baselines=0.0
        )
        .numpy()
    )
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-6)
    assert exp.extras["occlusion_path"] == "incremental-chain"


def test_feature_ablation_all_channels(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "feature_ablation", n_segments=4, channels="all", target=1)
    assert exp.attributions.shape == (5, 1, 40) and not exp.per_channel
    x = tiny_x.copy()
    x[:, :, 10:20] = 0.0
    with torch.no_grad():
        drop = tiny(torch.from_numpy(tiny_x))[:, 1] - tiny(torch.from_numpy(x))[:, 1]
    np.testing.assert_allclose(exp.attributions[:, 0, 15], drop.numpy(), rtol=1e-4, atol=1e-6)


def _brute_force_shapley(value, n_players):
    """The definition: mean marginal contribution over all player orderings."""
    phi = np.zeros(n_players)
    orders = list(itertools.permutations(range(n_players)))
    for order in orders:
        present = set()
        for player in order:
            before = value(present)
            present = present | {player}
            phi[player] += value(present) - before
    return phi / len(orders)


def test_shapley_exact_equals_definition(tiny, tiny_x):
    x = tiny_x[:1]
    exp = cl.explain(tiny, x, "shapley", n_segments=4, channels="all", target=2)
    assert exp.extras["exact"] and exp.extras["n_players"] == 4
    edges = [0, 10, 20, 30, 40]

    def value(present):
        series = np.zeros_like(x)
        for player in present:
            series[:, :, edges[player] : edges[player + 1]] = x[
                :, :, edges[player] : edges[player + 1]
            ]
        with torch.no_grad():
            return tiny(torch.from_numpy(series))[0, 2].item()

    expected = _brute_force_shapley(value, 4)
    np.testing.assert_allclose(exp.extras["player_values"][0], expected, rtol=1e-4, atol=1e-6)
    # Spread evenly: each of the 10 time points of a segment holds a tenth of its value.
    np.testing.assert_allclose(exp.attributions[0, 0, 0], expected[0] / 10, rtol=1e-4)
    np.testing.assert_allclose(
        exp.attributions.sum() + exp.extras["base_value"][0], exp.scores[0, 2], rtol=1e-4
    )


@pytest.mark.parametrize("n_segments", [3, 8])  # 9 players (exact) and 24 (Kernel SHAP)
def test_shapley_efficiency(tiny, tiny_x, n_segments):
    exp = cl.explain(tiny, tiny_x, "shapley", n_segments=n_segments, n_samples=300, seed=0)
    total = exp.attributions.sum(axis=(1, 2)) + exp.extras["base_value"]
    np.testing.assert_allclose(total, exp.scores[np.arange(5), exp.target], rtol=1e-4, atol=1e-5)
    assert exp.extras["exact"] == (n_segments == 3)


def test_kernel_shap_is_exact_on_an_additive_model(linear, linear_x):
    """For a linear score, every player's Shapley value is its own contribution."""
    weight = linear[1].weight.detach().numpy().reshape(3, 3, 20)
    exp = cl.explain(linear, linear_x, "shapley", n_segments=5, target=0, n_samples=400, seed=1)
    assert not exp.extras["exact"]
    contribution = (weight[0] * linear_x).reshape(4, 3, 5, 4).sum(-1).reshape(4, 15)
    np.testing.assert_allclose(exp.extras["player_values"], contribution, rtol=1e-3, atol=1e-4)


def test_seeds_reproduce(tiny, tiny_x):
    a = cl.explain(tiny, tiny_x, "shapley", n_segments=8, n_samples=50, seed=4)
    b = cl.explain(tiny, tiny_x, "shapley", n_segments=8, n_samples=50, seed=4)
    c = cl.explain(tiny, tiny_x, "shapley", n_segments=8, n_samples=50, seed=5)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert not np.allclose(a.attributions, c.attributions)
    noisy = [
        cl.explain(tiny, tiny_x, "occlusion", baseline="noise", seed=s).attributions
        for s in (1, 1, 2)
    ]
    np.testing.assert_array_equal(noisy[0], noisy[1])
    assert not np.allclose(noisy[0], noisy[2])


@pytest.mark.parametrize(
    ("method", "params", "match"),
    [
        ("occlusion", {"window": 41}, "longer than the series"),
        ("occlusion", {"stride": 0}, "stride"),
        ("occlusion", {"channels": "some"}, "channels"),
        ("feature_ablation", {"n_segments": 41}, "more than the 40 time points"),
        ("shapley", {"baseline": "median"}, "baseline"),
    ],
)
def test_bad_parameters(tiny, tiny_x, method, params, match):
    with pytest.raises(ValueError, match=match):
        cl.explain(tiny, tiny_x, method, **params)


def test_user_architecture_at_3000_points_is_incremental():
    model = zoo.conv1d_classifier(9, 3000, 4, filters=8, seed=0).eval()
    x = np.random.default_rng(0).normal(size=(1, 9, 3000)).astype(np.float32)
    fast = cl.explain(model, x, "occlusion", channels="all", window=50, stride=50)
    full = cl.explain(Untraceable(model), x, "occlusion", channels="all", window=50, stride=50)
    assert fast.extras["occlusion_path"] == "incremental-chain"
    np.testing.assert_allclose(fast.attributions, full.attributions, rtol=1e-4, atol=1e-6)
    assert math.isclose(fast.extras["n_windows"], math.ceil((3000 - 50) / 50) + 1)


@pytest.mark.parametrize("window", [1, 9, 60])
def test_incremental_windows_as_wide_as_the_layers(window, x90):
    """Wide windows make a layer's changed slice as long as the layer itself."""
    model = _strided_model("flatten")
    params = dict(window=window, stride=max(1, window // 2), target=0)
    fast = cl.explain(model, x90, "occlusion", **params)
    full = cl.explain(Untraceable(model), x90, "occlusion", **params)
    assert fast.extras["occlusion_path"] == "incremental-chain"
    scale = np.abs(full.attributions).max()
    np.testing.assert_allclose(fast.attributions, full.attributions, rtol=1e-4, atol=1e-5 * scale)


def test_local_mean_is_the_mean_of_the_replaced_interval(rng):
    from chronolens.attribution._perturbation import interval_means

    x = torch.from_numpy(rng.normal(size=(3, 2, 50)).astype(np.float32))
    case, start, stop = (
        torch.tensor([2, 0, 1]),
        torch.tensor([0, 13, 40]),
        torch.tensor([7, 14, 50]),
    )
    expected = np.stack([x[c, :, a:b].numpy().mean(-1) for c, a, b in zip(case, start, stop)])
    np.testing.assert_allclose(interval_means(x, case, start, stop).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("channels", ["each", "all"])
@pytest.mark.parametrize("average", [True, False])
def test_spread_equals_dense_masks(rng, channels, average):
    """The difference-array spread equals summing (or averaging) the dense masks."""
    from chronolens.attribution._segments import sliding_windows

    windows = sliding_windows(3, 37, 6, 4, channels)  # the last window is cut at the end
    values = torch.from_numpy(rng.normal(size=(2, len(windows))).astype(np.float32))
    masks = windows.masks(3, 37).astype(np.float64)
    total = np.einsum("nm,mct->nct", values.numpy().astype(np.float64), masks)
    if average:
        count = masks.sum(0)
        total = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    spread = windows.spread(values, 3, 37, average=average).numpy()
    np.testing.assert_allclose(spread, total, rtol=1e-5, atol=1e-6)
