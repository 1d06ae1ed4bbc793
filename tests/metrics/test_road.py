"""ROAD against a loop-by-loop port of the published procedure (road_evaluation: ImputedDataset,
NoisyLinearImputer written for time, road_eval) and closed forms on a linear model; every
removal metric on planted data where the exact map must beat random and its reverse lose."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.sparse import csc_matrix, lil_matrix
from scipy.sparse.linalg import spsolve
from torch import nn

from chronolens import Explanation
from chronolens.metrics import aopcr, deletion, insertion, road
from chronolens.testing import assert_model_unchanged, model_state, tiny_conv_model

PERCENTAGES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def _explanation(x, attributions, target, per_channel=True, method="given"):
    return Explanation(
        x=np.asarray(x, dtype=np.float32),
        attributions=np.asarray(attributions, dtype=np.float32),
        target=np.asarray(target, dtype=np.int64),
        scores=np.zeros((len(x), 1)),
        method=method,
        per_channel=per_channel,
    )


def _port_noisy_linear(series: torch.Tensor, bitmask: torch.Tensor, noise: float) -> torch.Tensor:
    """ROAD's NoisyLinearImputer for a (C, T) series and a (T,) mask (1 present), neighbours
    at time offsets -1 and +1 of weight 1/2 (their 3 x 3 image neighbourhood written for 1-D)."""
    neighbours = [(-1, 0.5), (1, 0.5)]
    t = series.shape[-1]
    maskflt = bitmask.numpy().reshape(-1)
    imgflat = series.numpy().reshape(series.shape[0], -1)
    indices = np.argwhere(maskflt == 0).flatten()
    coords_to_vidx = np.zeros(len(maskflt), dtype=int)
    coords_to_vidx[indices] = np.arange(len(indices))
    a = lil_matrix((len(indices), len(indices)))
    b = np.zeros((len(indices), series.shape[0]))
    sum_neighbors = np.ones(len(indices))
    for k, index in enumerate(indices):
        for offset, weight in neighbours:
            other = index + offset
            if other < 0 or other >= t:
                sum_neighbors[k] -= weight
            elif maskflt[other] > 0.5:
                b[k, :] -= weight * imgflat[:, other]
            else:
                a[k, coords_to_vidx[other]] = weight
        a[k, k] = -sum_neighbors[k]
    res = torch.tensor(spsolve(csc_matrix(a), b), dtype=torch.float).reshape(len(indices), -1)
    out = torch.from_numpy(imgflat.copy()).float()
    out[:, indices] = res.t() + noise * torch.randn_like(res.t())
    return out.reshape_as(series)


def _port_road(model, x, maps, labels, predictions, percentages, morf):
    """run_road + ImputedDataset.__getitem__ + road_eval, case by case, one percentage at a time.

    ``maps`` (n, T): one map over time shared by the channels (ROAD's mask is over pixels).
    """
    t = x.shape[-1]
    random_v = 1e-4 * np.random.default_rng(0).standard_normal(t)  # drawn once per data set
    accuracy, probability, logits = [], [], []
    for p in percentages:
        correct, prob, row = 0, 0.0, []
        for i in range(len(x)):
            s = maps[i]
            mask_copy = (s - np.min(s)) / (np.max(s) - np.min(s) + 1e-5) + random_v
            salient_order = torch.argsort(torch.tensor(mask_copy), descending=True)
            bitmask = torch.ones(t, dtype=torch.uint8)
            coords = salient_order[: int(t * p)] if morf else salient_order[int(t * p) :]
            bitmask[coords] = 0
            img = _port_noisy_linear(torch.from_numpy(x[i]), bitmask, noise=0.0)
            with torch.no_grad():
                outputs = model(img[None])
            correct += int(torch.max(outputs, 1)[1].item() == labels[i])
            prob += float(torch.softmax(outputs, dim=1)[0, predictions[i]])
            row.append(float(outputs[0, predictions[i]]))
        accuracy.append(correct / len(x))
        probability.append(prob / len(x))
        logits.append(row)
    return np.array(accuracy), np.array(probability), np.array(logits).T


def test_road_matches_a_port_of_the_published_procedure():
    model = tiny_conv_model(n_channels=2, n_classes=3, seed=4)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 2, 40)).astype(np.float32)
    maps = np.stack([rng.permutation(40) for _ in range(4)]).astype(np.float64)  # no near ties
    with torch.no_grad():
        predictions = model(torch.from_numpy(x)).argmax(1).numpy()
    labels = rng.integers(0, 3, size=4)
    exp = _explanation(x, maps[:, None, :], predictions, per_channel=False)
    before = model_state(model)
    got = road(model, exp, imputation="noisy_linear", noise=0.0, y=labels, fractions=PERCENTAGES)
    assert_model_unchanged(model, before)
    acc, prob, logits = _port_road(model, x, maps, labels, predictions, PERCENTAGES, morf=True)
    np.testing.assert_allclose(got.morf_accuracy, acc)
    np.testing.assert_allclose(got.morf_probabilities.mean(0), prob, atol=1e-5)
    np.testing.assert_allclose(got.morf_scores, logits, atol=1e-4)
    # the published LeRF at p keeps the top p: it is this LeRF at 1 - p
    acc, prob, logits = _port_road(model, x, maps, labels, predictions, PERCENTAGES, morf=False)
    np.testing.assert_allclose(got.lerf_accuracy, acc[::-1])
    np.testing.assert_allclose(got.lerf_probabilities.mean(0), prob[::-1], atol=1e-5)
    np.testing.assert_allclose(got.lerf_scores, logits[:, ::-1], atol=1e-4)
    np.testing.assert_allclose(got.morf_auc, np.trapezoid(got.morf_scores, PERCENTAGES))


def _interpolated(row, removed):
    kept = np.flatnonzero(~removed)
    return np.interp(np.arange(len(row)), kept, row[kept])  # edges held


@pytest.mark.parametrize("imputation", ["baseline", "linear"])
def test_road_on_a_linear_model_is_the_closed_form(linear, linear_x, imputation):
    weights = linear[1].weight.detach().double().numpy()
    bias = linear[1].bias.detach().double().numpy()
    n, c, t = linear_x.shape
    target = np.array([0, 1, 2, 1])
    contribution = np.stack([weights[k].reshape(c, t) * x for k, x in zip(target, linear_x)])
    got = road(linear, _explanation(linear_x, contribution, target), imputation=imputation)
    for i in range(n):
        order = np.argsort(-contribution[i].ravel(), kind="stable")
        for name, curve in (("morf", got.morf_scores), ("lerf", got.lerf_scores)):
            for step, p in enumerate(PERCENTAGES):
                count = round(p * c * t)
                chosen = order[:count] if name == "morf" else order[c * t - count :]
                removed = np.zeros(c * t, bool)
                removed[chosen] = True
                removed = removed.reshape(c, t)
                series = linear_x[i].astype(np.float64)
                if imputation == "baseline":
                    series = np.where(removed, 0.0, series)
                else:
                    series = np.stack(
                        [
                            _interpolated(series[k], removed[k])
                            if (~removed[k]).any()
                            else np.zeros(t)
                            for k in range(c)
                        ]
                    )
                expected = (weights[target[i]].reshape(c, t) * series).sum() + bias[target[i]]
                assert curve[i, step] == pytest.approx(expected, abs=1e-4)


def _planted(kind: str, seed: int = 0):
    """Positive-weight linear model (class 0; class 1 is a constant 0) on evidence planted on a
    quiet background: isolated spikes (a point map) or segments of given sizes (a block map)."""
    rng = np.random.default_rng(seed)
    n, t = 6, 60
    if kind == "spikes":
        x = 0.05 * rng.normal(size=(n, 1, t))
        for i in range(n):
            x[i, 0, rng.choice(np.arange(1, t - 1, 3), size=6, replace=False)] += 3.0
        w = rng.uniform(0.5, 1.5, size=t)
    else:
        sizes = [4, 8, 6, 10, 4, 8, 6, 14]
        edges = np.cumsum([0, *sizes])
        x = np.zeros((n, 1, t))
        for i in range(n):
            for s in rng.choice(len(sizes), size=3, replace=False):
                x[i, 0, edges[s] : edges[s + 1]] = 3.0
        w = np.repeat(rng.uniform(0.5, 1.5, size=len(sizes)), sizes)
    model = nn.Sequential(nn.Flatten(), nn.Linear(t, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
        model[1].weight[0] = torch.from_numpy(w.astype(np.float32))
    return model.eval(), x.astype(np.float32), (w * x[:, 0])[:, None, :]


@pytest.mark.parametrize("kind", ["spikes", "segments"])
@pytest.mark.parametrize("imputation", ["baseline", "linear", "noisy_linear", "blur"])
def test_exact_map_beats_random_and_its_reverse_loses_everywhere(kind, imputation):
    model, x, exact = _planted(kind)
    good, bad = (_explanation(x, m, np.zeros(len(x))) for m in (exact, -exact))
    assert (deletion(model, good).reference == "point") == (kind == "spikes")
    for metric in (deletion, insertion):
        a = metric(model, good, imputation=imputation, n_steps=8)
        b = metric(model, bad, imputation=imputation, n_steps=8)
        for reference in (a.mean_random_auc, a.mean_block_random_auc):
            low, high = (a.mean_auc, b.mean_auc) if metric is deletion else (b.mean_auc, a.mean_auc)
            assert low < reference < high, (metric.__name__, reference)
    a, b = road(model, good, imputation=imputation), road(model, bad, imputation=imputation)
    assert a.mean_morf_auc < a.mean_random_auc < b.mean_morf_auc  # MoRF falls fastest
    assert b.mean_lerf_auc < a.mean_random_auc < a.mean_lerf_auc  # LeRF falls slowest
    assert a.mean_gap > 0 > b.mean_gap
    for reference in ("point", "block"):
        kw = {"mode": "mask", "imputation": imputation, "reference": reference, "n_random": 1}
        assert np.mean(aopcr(model, x, exact, **kw)) > 0 > np.mean(aopcr(model, x, -exact, **kw))


def test_one_order_leaves_the_other_nan_and_batches_and_seeds_reproduce(tiny, tiny_x):
    exp = _explanation(tiny_x, np.random.default_rng(2).normal(size=tiny_x.shape), [0, 1, 2, 0, 1])
    both = road(tiny, exp, seed=3)
    again = road(tiny, exp, seed=3, batch_size=7)  # chunks that split a case's steps
    np.testing.assert_allclose(both.morf_scores, again.morf_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both.random_scores, again.random_scores, rtol=1e-5, atol=1e-6)
    assert not np.allclose(both.morf_scores, road(tiny, exp, seed=4).morf_scores)
    morf = road(tiny, exp, order="morf", seed=3)
    np.testing.assert_allclose(morf.morf_scores, both.morf_scores, rtol=1e-6)
    assert morf.orders == ("morf",) and np.isnan(morf.lerf_scores).all()
    assert np.isnan(morf.mean_gap) and "RoadResult" in repr(both)
    assert both.morf_scores.shape == (5, 9) and both.morf_accuracy.shape == (9,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": "morff"}, "order"),
        ({"fractions": [0.5, 0.2]}, "fractions"),
        ({"fractions": [0.5]}, "fractions"),
        ({"imputation": "gain"}, "imputation"),
        ({"noise": -0.1}, "noise"),
        ({"y": [0, 1]}, "`y`"),
        ({"y": [0, 1, 2, 3, 9]}, "`y`"),
        ({"baseline": "zero"}, "baseline"),
    ],
)
def test_bad_parameters_are_named(tiny, tiny_x, kwargs, match):
    exp = _explanation(tiny_x, np.ones(tiny_x.shape), [0] * 5)
    with pytest.raises((ValueError, TypeError), match=match):
        road(tiny, exp, **kwargs)
    with pytest.raises(TypeError, match="Explanation"):
        road(tiny, tiny_x)


def test_real_data_smoke_on_basic_motions():
    """4 BasicMotions cases (UEA, shipped), a tiny untrained model: everything runs."""
    import chronolens as cl
    from chronolens.datasets import load_basic_motions

    x, _ = load_basic_motions("test")
    x = np.asarray(x[:4], dtype=np.float32)
    model = tiny_conv_model(n_channels=6, n_classes=4, seed=0)
    for method in ("feature_ablation", "integrated_gradients"):
        exp = cl.explain(model, x, method, progress=False)
        result = road(model, exp, fractions=[0.2, 0.5, 0.8])
        shape = result.reference
        assert shape == "block" or method != "feature_ablation"  # segments: runs along time
        assert np.isfinite(result.morf_scores).all() and np.isfinite(result.gap).all()
        curve = deletion(model, exp, imputation="noisy_linear", n_steps=4)
        assert np.isfinite(curve.block_random_auc).all() and curve.reference == shape
        kw = {"mode": "mask", "reference": "matched", "n_random": 1, "stop": 0.8, "step": 0.1}
        assert np.isfinite(aopcr(model, x, exp, **kw)).all()
