"""The verdict that survives the choice of metric, on planted maps and planted calls.

References: scipy's one-sample t-test for a metric's call; a linear model's exact map
(``W * x``, the closed form of input x gradient) and its reverse; a planted series on which a
linear model's map ranks points well for zero replacement and windows badly for local-mean
replacement (the windows' drops are computed in closed form in the test).
"""

import dataclasses

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

import chronolens as cl
from chronolens.metrics import evaluate
from chronolens.metrics._verdict import (
    BETTER,
    DISAGREE,
    INCONCLUSIVE,
    WORSE,
    MetricCall,
    call_metric,
    combine,
)
from chronolens.testing import linear_model


def test_a_call_is_a_paired_t_test_against_the_reference():
    rng = np.random.default_rng(0)
    for shift in (-1.0, -0.6, -0.2, 0.0, 0.3, 0.6, 1.0):
        values = rng.normal(shift, 1.0, size=12)
        reference = stats.ttest_1samp(values, 0.0)
        sign = "better" if reference.statistic > 0 else "worse"
        got = call_metric("m", "i", values)
        assert got.call == (sign if reference.pvalue <= 0.05 else "tie")
        assert got.p_value == pytest.approx(reference.pvalue, rel=1e-9)
        assert got.improvement == pytest.approx(values.mean())
        assert got.stderr == pytest.approx(stats.sem(values))
        fixed = call_metric("m", "i", values, threshold=2.0)  # the uncorrected fixed rule
        assert fixed.call == (sign if abs(reference.statistic) > 2 else "tie")
    assert call_metric("m", "i", np.array([0.5])).call == "tie"  # no error estimate
    assert call_metric("m", "i", np.full(4, 0.5)).call == "better"  # no spread: the sign
    assert call_metric("m", "i", np.array([np.nan, np.nan])).call == "tie"


def _call(metric, intervention, call):
    return MetricCall(metric, intervention, 0.0, 0.0, call)


def test_the_combination_rule_on_planted_calls():
    two = [_call("road_morf", "road", "better"), _call("aopcr", "remove", "better")]
    assert combine(two).label == BETTER
    same = [_call("deletion", "zeros", "better"), _call("insertion", "zeros", "better")]
    assert combine(same).label == INCONCLUSIVE  # one intervention only
    assert combine(same, min_interventions=1).label == BETTER
    mixed = [*two, _call("deletion", "zeros", "worse")]
    verdict = combine(mixed)
    assert verdict.label == DISAGREE
    assert verdict.better == ("road_morf", "aopcr") and verdict.worse == ("deletion",)
    assert "worse: deletion" in str(verdict) and "better: road_morf, aopcr" in str(verdict)
    flipped = [dataclasses.replace(c, call="worse") for c in two]
    assert combine(flipped).label == WORSE
    tied = [*two, _call("insertion", "zeros", "tie")]
    assert combine(tied).label == BETTER and combine(tied).tied == ("insertion",)
    assert combine([_call("a", "x", "tie")]).label == INCONCLUSIVE
    shown = combine(same, uncounted=[_call("cpd", "zeros", "worse")])
    assert shown.label == INCONCLUSIVE and "on |map|, not counted: cpd worse" in str(shown)


def _exact_map(model, x, target):
    weights = model[1].weight.detach().numpy()[target].reshape(x.shape[1:])
    return weights[None] * x


def _given(model, x, values, name):
    exp = cl.explain(model, x, "saliency", target=0)
    return dataclasses.replace(exp, attributions=values.astype(np.float32), method=name)


def test_a_linear_models_exact_map_is_better_and_its_reverse_worse_on_every_metric():
    model = linear_model(n_channels=2, n_timepoints=40, n_classes=2, seed=3)
    x = np.random.default_rng(1).normal(size=(12, 2, 40)).astype(np.float32)
    exact = _exact_map(model, x, 0)
    result = evaluate(
        model,
        x,
        [_given(model, x, exact, "exact"), _given(model, x, -exact, "reverse")],
        target=0,
        sanity=False,
    )
    good, bad = result.rows
    magnitude = {"cpd", "cpp", "infidelity"}  # read |map| only: shown, not counted
    signed = set(result.metric_names) - magnitude
    assert good.verdict.label == BETTER and set(good.verdict.better) == signed
    assert bad.verdict.label == WORSE and set(bad.verdict.worse) == signed
    for row in (good, bad):  # |W x| is the exact magnitude either way
        assert {c.metric: c.call for c in row.verdict.uncounted} == dict.fromkeys(
            magnitude, "better"
        )
    assert good.deletion_auc < good.deletion_random_auc < bad.deletion_auc


def test_a_map_two_metrics_disagree_on_is_never_called_better():
    """Planted: f(x) = sum(w x); x = c + d with d = s_W (w - mean_W w) per window W.

    Ranking points by ``c w`` is right for zero replacement (the drop of a point is
    ``w (c + d)``, dominated by ``c w``), but a window's drop under local-mean replacement is
    ``sum_W w (d - mean_W d) = s_W sum_W (w - mean_W w)^2``; with ``s_W = -1`` on the windows
    of highest mean ``w`` the map removes windows that raise the score first.
    """
    t, width, n = 40, 2, 10  # deletion_window's default width for t=40 is t // 20 = 2
    rng = np.random.default_rng(4)
    w = rng.uniform(0.2, 2.0, size=t)
    windows = np.arange(t) // width
    means = np.array([w[windows == k].mean() for k in range(t // width)])
    sign = np.where(means > np.median(means), -1.0, 1.0)[windows]
    centred = w - means[windows]
    d = sign * centred * 3.0
    x = (5.0 + d[None] + rng.normal(0, 0.01, size=(n, t)))[:, None, :].astype(np.float32)
    drops = np.array([(w * (d - d[windows == k].mean()))[windows == k].sum() for k in windows])
    assert np.all(drops[sign < 0] < 0) and np.all(drops[sign > 0] > 0)  # the planted windows
    model = nn.Sequential(nn.Flatten(), nn.Linear(t, 2)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor(np.stack([w, np.zeros(t)]), dtype=torch.float32))
        model[1].bias.zero_()
    planted = np.broadcast_to(5.0 * w, x.shape).copy()
    result = evaluate(
        model,
        x,
        [_given(model, x, planted, "planted")],
        target=0,
        metrics=("deletion", "deletion_window"),
        sanity=False,
    )
    (row,) = result.rows
    assert row.verdict.better == ("deletion",) and row.verdict.worse == ("deletion_window",)
    assert row.verdict.label == DISAGREE
    assert "metrics disagree" in str(result) and "worse: deletion_window" in str(result)


def test_a_block_maps_point_reference_is_shown_and_not_counted():
    """A map of runs (a window-averaged exact map) is judged against random runs of its own
    sizes (``*_block``); the scattered-point reference of the same metric is shown only."""
    two = [_call("road_morf_block", "road", "better"), _call("aopcr_block", "remove", "better")]
    verdict = combine(two, unmatched=[_call("aopcr", "remove", "worse")])
    assert verdict.label == BETTER and verdict.worse == ()
    assert "point reference on a block map, not counted: aopcr worse" in str(verdict)
    model = linear_model(n_channels=2, n_timepoints=40, n_classes=2, seed=3)
    x = np.random.default_rng(1).normal(size=(12, 2, 40)).astype(np.float32)
    exact = _exact_map(model, x, 0)
    blocks = np.repeat(exact.reshape(12, 2, 8, 5).mean(-1), 5, axis=-1)  # runs of 5 points
    (row,) = evaluate(model, x, [_given(model, x, blocks, "blocks")], target=0, sanity=False).rows
    counted = {c.metric for c in row.verdict.calls}
    shown = {c.metric for c in row.verdict.unmatched}
    assert shown and all(f"{name}_block" in counted for name in shown)
    assert not shown & counted
    listed = {c["metric"]: c["counted"] for c in row.to_dict()["calls"]}
    assert all(not listed[name] for name in shown)
    assert all(listed[f"{name}_block"] for name in shown)
