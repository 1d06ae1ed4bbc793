"""MILLET's AOPCR and NDCG@n against loop-by-loop ports of the authors' code and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens.metrics import aopcr, ndcg_at_n


class MeanLinear(nn.Module):
    """logit_k = w_k * mean over time of x (any length): a GAP model with a hand-known output."""

    def __init__(self, weights: list[float]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(weights), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2))[:, None] * self.w


def _gap_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv1d(1, 4, 5, padding=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    return net.eval()


def _blocks_of(random: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """A random draw made constant on the runs of equal map values: each run its first draw."""
    out = random.clone()
    for i in range(out.shape[0]):
        for j in range(1, out.shape[1]):
            if scores[i, j] == scores[i, j - 1]:
                out[i, j] = out[i, j - 1]
    return out


def _interpolate_removed(bag: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Masking variant: removed steps linearly interpolated from the kept ones, edges held."""
    out = bag.clone()
    kept = [j for j in range(bag.shape[-1]) if keep[j] == 1]
    for j in range(bag.shape[-1]):
        if keep[j] == 1:
            continue
        left = max((k for k in kept if k < j), default=None)
        right = min((k for k in kept if k > j), default=None)
        if left is None or right is None:
            out[..., j] = bag[..., right if left is None else left]
        else:
            out[..., j] = bag[..., left] + (bag[..., right] - bag[..., left]) * (j - left) / (
                right - left
            )
    return out


def _port_aopcr(
    model: nn.Module,
    bags: torch.Tensor,
    scores: torch.Tensor,
    positional: bool = False,
    block: bool = False,
    masked: bool = False,
) -> np.ndarray:
    """MILLET's calculate_aopcr, loop by loop, for one batch of bags (n, 1, t), seeded globally.

    ``positional``: the model takes the kept steps' original positions, as MILLET's MIL
    models do (``model(bag[:, :, keep], positions)``). ``block``: each random order made
    constant on the map's runs (the matched reference). ``masked``: the removed steps are
    linearly interpolated instead of deleted (the masking variant).
    """
    n, t = bags.shape[0], bags.shape[-1]
    with torch.no_grad():
        out = model(bags)
    clzs = [int(torch.argmax(out[i])) for i in range(n)]
    orig = [float(out[i, clzs[i]]) for i in range(n)]
    steps = np.linspace(1, 0.5, num=math.ceil((1 - 0.5) / 0.05 + 1))

    def aopc(interp: torch.Tensor) -> list[float]:
        values = []
        for i in range(n):
            morf = torch.argsort(interp[i], descending=True, stable=True)
            curve = [orig[i]]
            for s in steps[1:]:
                remove = int((1 - s) * t)
                keep = torch.ones(t, dtype=torch.int)
                keep[morf[:remove]] = 0
                kept = bags[i : i + 1][:, :, keep == 1]
                where = torch.nonzero(keep == 1)[:, 0][None]
                if masked:
                    kept = _interpolate_removed(bags[i : i + 1], keep)
                with torch.no_grad():
                    out = model(kept, positions=where) if positional else model(kept)
                curve.append(float(out[0, clzs[i]]))
            values.append(sum(curve[0] - c for c in curve[1:]) / len(steps))
        return values

    ranked = aopc(scores)
    with torch.random.fork_rng(devices=[]):
        torch.random.manual_seed(72)
        draws = [torch.rand((n, t)) for _ in range(3)]
    randoms = [aopc(_blocks_of(d, scores) if block else d) for d in draws]
    return np.array([ranked[i] - sum(r[i] for r in randoms) / 3 for i in range(n)])


def test_aopcr_matches_a_port_of_millets_code_seeded_per_batch_of_16() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 1, 60)).astype(np.float32)
    maps = rng.standard_normal((20, 60))
    net = _gap_net()
    expected = np.concatenate(
        [
            _port_aopcr(net, torch.from_numpy(x[s]), torch.from_numpy(maps[s]).float())
            for s in (slice(0, 16), slice(16, 20))
        ]
    )
    np.testing.assert_allclose(aopcr(net, x, maps.astype(np.float32)), expected, atol=1e-5)


def test_aopcr_closed_form_on_a_mean_linear_model() -> None:
    # x = 0..19, map = x: the largest values go first. MILLET's int((1 - s) * 20) removes
    # 1, 1, 3, 3, 5, 6, 7, 8, 9, 10 points (float truncation); removing the top r leaves 0..19-r,
    # mean (19 - r) / 2, a drop of r / 2 of the class-0 logit (w = 1; class 1 has w = -1).
    # With the map -x the smallest go first: a drop of -r / 2. Same seed, same random part.
    x = np.arange(20, dtype=np.float32)[None, None, :]
    model = MeanLinear([1.0, -1.0])
    removed = np.array([1, 1, 3, 3, 5, 6, 7, 8, 9, 10])
    up = aopcr(model, x, x[:, 0])
    down = aopcr(model, x, -x[:, 0])
    np.testing.assert_allclose(up - down, [2 * (removed / 2).sum() / 11], rtol=1e-6)
    # mask mode, fill 0: the top r become 0, mean sum(0..19-r) / 20 = (19 - r)(20 - r) / 40.
    drops = 9.5 - (19 - removed) * (20 - removed) / 40
    rising = -(
        9.5 - (removed * 0 + (np.arange(20).sum() - [np.arange(r).sum() for r in removed])) / 20
    )
    masked = aopcr(model, x, x[:, 0], mode="mask") - aopcr(model, x, -x[:, 0], mode="mask")
    np.testing.assert_allclose(masked, [(drops.sum() + rising.sum()) / 11], rtol=1e-6)


def test_aopcr_takes_explanations_and_channels_last() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 1, 40)).astype(np.float32)
    net = _gap_net(1)
    explanation = cl.explain(net, x, "cam", progress=False)
    from_explanation = aopcr(net, x, explanation)
    from_array = aopcr(
        net, x.transpose(0, 2, 1), explanation.attributions.transpose(0, 2, 1), layout="nlc"
    )
    np.testing.assert_allclose(from_explanation, from_array, atol=1e-6)


def test_aopcr_refuses_a_fixed_length_model_and_names_mask_mode() -> None:
    torch.manual_seed(0)
    fixed = nn.Sequential(nn.Flatten(), nn.Linear(30, 3)).eval()
    x = np.random.default_rng(2).standard_normal((3, 1, 30)).astype(np.float32)
    with pytest.raises(ValueError, match="mode='mask'"):
        aopcr(fixed, x, np.ones((3, 30)))
    assert aopcr(fixed, x, np.ones((3, 30)), mode="mask").shape == (3,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"mode": "zero"}, "mode"), ({"stop": 0.0}, "stop"), ({"n_random": 0}, "n_random")],
)
def test_aopcr_bad_parameters(kwargs: dict, message: str) -> None:
    x = np.zeros((2, 1, 20), dtype=np.float32)
    with pytest.raises((ValueError, TypeError), match=message):
        aopcr(MeanLinear([1.0, -1.0]), x, np.zeros((2, 20)), **kwargs)


def test_aopcr_bad_maps() -> None:
    x = np.zeros((2, 1, 20), dtype=np.float32)
    with pytest.raises(ValueError, match="one map per case"):
        aopcr(MeanLinear([1.0, -1.0]), x, np.zeros((2, 19)))
    with pytest.raises(ValueError, match="NaN"):
        aopcr(MeanLinear([1.0, -1.0]), x, np.full((2, 20), np.nan))


def _port_ndcg(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """MILLET's calculate_ndcg_at_n, loop by loop."""
    n = int((labels == 1).sum().item())
    top_n = torch.topk(scores, n)[1]
    dcg = norm = 0.0
    for i, idx in enumerate(top_n):
        dcg += labels[idx].item() / math.log2(i + 2)
        norm += 1.0 / math.log2(i + 2)
    return dcg / norm


def test_ndcg_matches_a_port_and_closed_forms() -> None:
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((8, 50))
    mask = rng.random((8, 50)) < 0.2
    mask[:, 0] = True
    expected = [
        _port_ndcg(torch.from_numpy(s), torch.from_numpy(m.astype(np.float64)))
        for s, m in zip(scores, mask)
    ]
    np.testing.assert_allclose(ndcg_at_n(scores, mask), expected, atol=1e-12)
    np.testing.assert_allclose(ndcg_at_n(mask.astype(float), mask), 1.0)  # perfect ranking
    np.testing.assert_allclose(
        ndcg_at_n(-mask.astype(float), mask[:, None, :]), 0.0
    )  # worst (n < t / 2)
    # by hand: mask 1 0 1 0, scores .9 .8 .1 0: the top two hit, miss -> 1 / (1 + 1 / log2 3)
    hand = ndcg_at_n(np.array([[0.9, 0.8, 0.1, 0.0]]), np.array([[True, False, True, False]]))
    np.testing.assert_allclose(hand, [1 / (1 + 1 / math.log2(3))])


def test_ndcg_picks_the_true_class_from_class_wise_maps_and_nan_for_empty_masks() -> None:
    maps = np.zeros((2, 3, 4))
    maps[0, 2] = [0, 0, 1, 2]  # true class 2 ranks the marked end first
    maps[1, 0] = [3, 2, 1, 0]
    mask = np.array([[False, False, True, True], [False, False, False, False]])
    out = ndcg_at_n(maps, mask, y=[2, 0])
    assert out[0] == pytest.approx(1.0) and np.isnan(out[1])
    with pytest.raises(ValueError, match="`y`"):
        ndcg_at_n(maps, mask, y=[3, 0])
    with pytest.raises(ValueError, match="`mask`"):
        ndcg_at_n(maps, mask)


def test_encoding_at_positions_is_the_table_at_those_columns() -> None:
    from chronolens.zoo.mil import encoding_at, positional_encoding

    table = positional_encoding(6, 40)
    positions = torch.tensor([[0, 3, 7, 39], [1, 2, 5, 30]])
    np.testing.assert_allclose(encoding_at(6, positions)[:, 1], table[:, positions[1]], atol=1e-7)


def test_aopcr_keeps_the_original_positions_for_a_mil_models_encoding() -> None:
    from chronolens import zoo

    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU())
    model = zoo.mil(backbone, 3, "conjunctive", seed=1).eval()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 1, 40)).astype(np.float32)
    maps = rng.standard_normal((6, 40)).astype(np.float32)
    expected = _port_aopcr(model, torch.from_numpy(x), torch.from_numpy(maps), positional=True)
    got = aopcr(model, x, maps)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # without the positions (the shortened series encoded 0..t'-1) the numbers differ
    blind = _port_aopcr(model, torch.from_numpy(x), torch.from_numpy(maps), positional=False)
    assert np.abs(blind - expected).max() > 1e-3


def test_block_reference_matches_a_port_with_random_orders_of_the_maps_runs() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 1, 40)).astype(np.float32)
    sizes = [5, 3, 8, 4, 10, 2, 8]  # a segment map: runs of these sizes
    maps = np.stack([np.repeat(rng.permutation(7), sizes) for _ in range(3)]).astype(np.float32)
    net = _gap_net(2)
    expected = _port_aopcr(net, torch.from_numpy(x), torch.from_numpy(maps), block=True)
    block = aopcr(net, x, maps, reference="block")
    np.testing.assert_allclose(block, expected, atol=1e-5)
    np.testing.assert_array_equal(aopcr(net, x, maps, reference="matched"), block)
    assert np.abs(aopcr(net, x, maps) - block).max() > 1e-3  # the point reference differs
    # a map without runs: the block reference is MILLET's, draw for draw
    smooth = rng.standard_normal((3, 40)).astype(np.float32)
    np.testing.assert_array_equal(
        aopcr(net, x, smooth, reference="block"), aopcr(net, x, smooth, reference="point")
    )


def test_masking_with_linear_imputation_matches_the_port() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 1, 30)).astype(np.float32)
    maps = rng.standard_normal((4, 30)).astype(np.float32)
    torch.manual_seed(3)
    fixed = nn.Sequential(nn.Flatten(), nn.Linear(30, 3)).eval()
    expected = _port_aopcr(fixed, torch.from_numpy(x), torch.from_numpy(maps), masked=True)
    got = aopcr(fixed, x, maps, mode="mask", imputation="linear")
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ValueError, match="mode='mask'"):
        aopcr(fixed, x, maps, imputation="linear")
    with pytest.raises(ValueError, match="reference"):
        aopcr(fixed, x, maps, mode="mask", reference="blocks")
