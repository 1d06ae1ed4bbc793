"""The verdict's correction for the number of metric calls (Holm 1979).

References: SciPy's Student t distribution for the p-values; Holm's step-down procedure
written as the paper's loop (reject the smallest p-values while ``p_(i) <= alpha / (m - i + 1)``);
the family-wise error rate under the null in closed form (Bonferroni's bound, and ``2 P(T > 2)``
for one uncorrected call at 2 standard errors); random maps on a linear model as the null.
"""

import dataclasses

import numpy as np
import pytest
from scipy import stats

import chronolens as cl
from chronolens.metrics import evaluate
from chronolens.metrics._t_test import adjusted, two_sided_p
from chronolens.metrics._verdict import (
    BETTER,
    INCONCLUSIVE,
    CallRule,
    call_metric,
    combine,
    correct,
)
from chronolens.testing import linear_model


@pytest.mark.parametrize("df", [1, 2, 3, 7, 11, 31, 250])
def test_the_p_value_is_students_two_sided_tail(df):
    for t in (0.0, 0.3, 1.0, 2.0, 2.4, 3.5, 6.0, 25.0, -2.0):
        assert two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9, abs=1e-300)


def _holm_loop(p, alpha):
    """Holm (1979): sort, reject while p_(i) <= alpha / (m - i + 1), stop at the first failure."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    rejected = [False] * len(p)
    for rank, i in enumerate(order):
        if p[i] <= alpha / (len(p) - rank):
            rejected[i] = True
        else:
            break
    return rejected


def test_holm_adjusted_p_values_reject_exactly_what_the_step_down_loop_rejects():
    rng = np.random.default_rng(0)
    for _ in range(300):
        m = int(rng.integers(1, 12))
        p = rng.uniform(0, 0.2, size=m) ** rng.uniform(0.5, 3)
        for alpha in (0.01, 0.05, 0.1):
            assert list(adjusted(p, "holm") <= alpha) == _holm_loop(list(p), alpha)
            assert list(adjusted(p, "bonferroni") <= alpha) == list(p <= alpha / m)
    with_gap = adjusted(np.array([0.01, np.nan, 0.02]), "holm")  # NaN: not a test
    assert np.isnan(with_gap[1]) and with_gap[[0, 2]] == pytest.approx([0.02, 0.02])


def test_a_random_map_gets_a_verdict_at_most_alpha_of_the_time():
    """Ten null calls on five interventions, 8 cases: Holm keeps any false call under 5 %."""
    rng = np.random.default_rng(1)
    trials, rule = 4000, CallRule()
    false_calls = false_verdicts = single_fixed = any_fixed = 0
    for _ in range(trials):
        improvements = rng.normal(0.0, 1.0, size=(10, 8))
        calls = [call_metric(f"m{k}", f"i{k // 2}", v) for k, v in enumerate(improvements)]
        held = correct(calls, rule)
        false_calls += any(c.call != "tie" for c in held)
        false_verdicts += combine(held).label != INCONCLUSIVE
        fixed = [call_metric("m", "i", v, threshold=2.0).call != "tie" for v in improvements]
        single_fixed += fixed[0]
        any_fixed += any(fixed)
    # Bonferroni's bound alpha holds for Holm; 3 binomial standard errors of slack.
    slack = 3 * np.sqrt(0.05 * 0.95 / trials)
    assert false_calls / trials <= 0.05 + slack
    assert false_verdicts / trials <= false_calls / trials  # only a false call can mislead
    # The fixed rule's single call is wrong 2 P(T_7 > 2) = 8.6 % of the time, and one of ten
    # independent calls 1 - (1 - 0.086)^10 = 59 % of the time: what the correction is for.
    single = 2 * stats.t.sf(2.0, 7)
    assert abs(single_fixed / trials - single) <= 3 * np.sqrt(single * (1 - single) / trials)
    family = 1 - (1 - single) ** 10
    assert abs(any_fixed / trials - family) <= 3 * np.sqrt(family * (1 - family) / trials)


def test_a_real_effect_still_gets_through_the_correction():
    """Ten calls, each shifted by one standard deviation on 16 cases: t about 4 per call."""
    rng = np.random.default_rng(2)
    calls = [call_metric(f"m{k}", f"i{k // 2}", rng.normal(1.0, 1.0, size=16)) for k in range(10)]
    held = correct(calls, CallRule())
    assert all(c.call == "better" for c in held)
    assert all(c.p_adjusted >= c.p_value for c in held)
    assert combine(held).label == BETTER


def _random_map(model, x, seed):
    exp = cl.explain(model, x, "saliency", target=0)
    values = np.random.default_rng([seed, 99]).normal(size=x.shape).astype(np.float32)
    return dataclasses.replace(exp, attributions=values, method=f"random {seed}")


def test_random_maps_on_a_linear_model_are_inconclusive_under_every_seed():
    model = linear_model(n_channels=2, n_timepoints=30, n_classes=2, seed=5)
    x = np.random.default_rng(3).normal(size=(8, 2, 30)).astype(np.float32)
    maps = [_random_map(model, x, seed) for seed in range(12)]
    result = evaluate(model, x, maps, target=0, sanity=False)
    labels = [row.verdict.label for row in result.rows]
    assert labels == [INCONCLUSIVE] * len(maps)
    # The uncorrected rule at 2 standard errors makes about ten calls per map, each wrong
    # 8.6 % of the time at 8 cases: over twelve random maps it is fooled at least once.
    fixed = evaluate(model, x, maps, target=0, sanity=False, threshold=2.0)
    assert any(row.verdict.label != INCONCLUSIVE for row in fixed.rows)
    for row in result.rows:  # every counted call carries its raw and adjusted p-value
        for call in row.verdict.calls:
            if np.isfinite(call.p_value):
                assert call.p_adjusted >= call.p_value


def test_threshold_and_a_correction_together_are_refused_with_the_fix():
    model = linear_model(n_channels=2, n_timepoints=30, n_classes=2, seed=5)
    x = np.zeros((4, 2, 30), dtype=np.float32)
    with pytest.raises(ValueError, match="pass `alpha`.*or `threshold` alone"):
        evaluate(model, x, ["saliency"], threshold=2.0, correction="holm", sanity=False)
    with pytest.raises(ValueError, match="correction"):
        evaluate(model, x, ["saliency"], correction="sidak", sanity=False)
    with pytest.raises(ValueError, match="alpha"):
        evaluate(model, x, ["saliency"], alpha=1.5, sanity=False)
