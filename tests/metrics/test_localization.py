import itertools

import numpy as np
import pytest

from chronolens import Explanation
from chronolens.metrics import (
    aup_aur,
    average_precision_score,
    relevance_mass_score,
    roc_auc_score,
)


def _exp(attributions, per_channel=True, channels=2):
    n, _, t = attributions.shape
    return Explanation(
        x=np.zeros((n, channels, t), np.float32),
        attributions=attributions.astype(np.float32),
        target=None,
        scores=np.zeros((n, 1)),
        method="m",
        per_channel=per_channel,
    )


def _mask(n=3):
    mask = np.zeros((n, 2, 30), bool)
    mask[:, 1, 10:15] = True
    mask[:, 0, 2:4] = True
    return mask


def _brute_force_ap(scores, truth):
    """Mean of precision at each positive's rank (no ties)."""
    order = np.argsort(-scores)
    hits = truth[order]
    precisions = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return precisions[hits].mean()


def _pairwise_auc(scores, truth):
    """P(positive > negative) + 0.5 P(tie), by enumerating all pairs."""
    pos, neg = scores[truth], scores[~truth]
    wins = sum((p > q) + 0.5 * (p == q) for p, q in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_perfect_map_scores_one_on_every_score():
    mask = _mask()
    exp = _exp(mask * 1.0)
    np.testing.assert_allclose(average_precision_score(exp, mask), 1.0)
    np.testing.assert_allclose(roc_auc_score(exp, mask), 1.0)
    np.testing.assert_allclose(relevance_mass_score(exp, mask), 1.0)
    aup, aur = aup_aur(exp, mask)
    # Ismail et al.'s scale: precision 1 at every share p = 0.1..0.9; recall is the share of
    # the 7 mask points selected, ceil(7 p) / 7.
    np.testing.assert_allclose(aup, 0.8)
    shares = np.arange(1, 10) / 10
    np.testing.assert_allclose(aur, _trapezoid(np.ceil(7 * shares - 1e-9) / 7, shares))


def test_average_precision_matches_brute_force_without_ties():
    rng = np.random.default_rng(0)
    mask = _mask()
    scores = rng.normal(size=mask.shape)
    expected = [_brute_force_ap(np.abs(s).ravel(), m.ravel()) for s, m in zip(scores, mask)]
    np.testing.assert_allclose(average_precision_score(_exp(scores), mask), expected, rtol=1e-6)
    signed = [_brute_force_ap(s.ravel(), m.ravel()) for s, m in zip(scores, mask)]
    np.testing.assert_allclose(
        average_precision_score(_exp(scores), mask, absolute=False), signed, rtol=1e-6
    )


def test_average_precision_matches_scikit_learn_with_ties():
    """Ties share a threshold, as in scikit-learn's average_precision_score."""
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    mask = _mask()
    scores = np.round(rng.normal(size=mask.shape), 1)  # many ties
    expected = [
        metrics.average_precision_score(m.ravel(), np.abs(s).ravel().astype(np.float32))
        for s, m in zip(scores, mask)
    ]
    np.testing.assert_allclose(average_precision_score(_exp(scores), mask), expected, rtol=1e-10)


def test_roc_auc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    mask = _mask()
    scores = np.round(rng.normal(size=mask.shape), 1)  # many ties
    expected = [_pairwise_auc(np.abs(s).ravel(), m.ravel()) for s, m in zip(scores, mask)]
    np.testing.assert_allclose(roc_auc_score(_exp(scores), mask), expected, rtol=1e-12)
    signed = [_pairwise_auc(s.ravel(), m.ravel()) for s, m in zip(scores, mask)]
    np.testing.assert_allclose(roc_auc_score(_exp(scores), mask, absolute=False), signed)
    # The map of the complement ranks every negative first.
    np.testing.assert_allclose(roc_auc_score(_exp(~mask * 1.0), mask), 0.0)


def test_random_maps_score_chance():
    rng = np.random.default_rng(1)
    mask = np.zeros((200, 2, 30), bool)
    mask[:, 1, 10:15] = True
    scores = _exp(rng.random(mask.shape))
    assert np.mean(roc_auc_score(scores, mask)) == pytest.approx(0.5, abs=0.03)
    assert np.mean(relevance_mass_score(scores, mask)) == pytest.approx(mask.mean(), abs=0.01)


def test_relevance_mass_closed_form():
    mask = _mask(1)
    values = np.zeros((1, 2, 30))
    values[0, 1, 10] = 3.0  # inside
    values[0, 0, 20] = -1.0  # outside, negative
    values[0, 0, 25] = 1.0  # outside
    exp = _exp(values)
    assert relevance_mass_score(exp, mask)[0] == pytest.approx(3 / 5)
    assert relevance_mass_score(exp, mask, absolute=False)[0] == pytest.approx(3 / 4)
    assert np.isnan(relevance_mass_score(_exp(np.zeros((1, 2, 30))), mask)[0])


def _trapezoid(values, x):
    values, x = np.asarray(values), np.asarray(x)
    return float(((values[1:] + values[:-1]) / 2 * np.diff(x)).sum())


def _authors_aup_aur(attributions, mask):
    """Ismail et al.'s benchmark procedure, written out loop by loop for one case at a time."""
    aups, aurs = [], []
    for values, truth in zip(np.abs(attributions), mask):
        saliency = values.ravel().astype(np.float64)
        saliency = (saliency - saliency.min()) / (saliency.max() - saliency.min())
        truth = truth.ravel()
        ranked = sorted(range(len(saliency)), key=lambda i: -saliency[i])  # stable
        precision, recall = [], []
        for share in np.arange(1, 10) / 10:
            chosen, held = [], 0.0
            for i in ranked:  # grow the top set until it holds the share of all saliency
                if held >= share * saliency.sum() * (1 - 1e-12):
                    break
                chosen.append(i)
                held += saliency[i]
            tp = sum(saliency[i] for i in chosen if truth[i])
            fp = sum(saliency[i] for i in chosen if not truth[i])
            fn = sum(saliency[i] for i in range(len(saliency)) if truth[i] and i not in chosen)
            precision.append(tp / (tp + fp) if tp + fp > 0 else 0.0)
            recall.append(tp / (tp + fn) if tp + fn > 0 else 0.0)
        shares = np.arange(1, 10) / 10
        aups.append(_trapezoid(precision, shares))
        aurs.append(_trapezoid(recall, shares))
    return np.array(aups), np.array(aurs)


def test_aup_aur_matches_the_authors_procedure():
    rng = np.random.default_rng(3)
    mask = _mask(4)
    maps = rng.normal(size=mask.shape) + 2.0 * mask * rng.random((4, 1, 1))
    maps[3] = np.round(maps[3])  # ties
    aup, aur = aup_aur(_exp(maps), mask)
    expected_aup, expected_aur = _authors_aup_aur(maps.astype(np.float32), mask)
    np.testing.assert_allclose(aup, expected_aup, rtol=1e-10)
    np.testing.assert_allclose(aur, expected_aur, rtol=1e-10)
    # A map that points at the mask beats noise on both.
    noise_aup, noise_aur = aup_aur(_exp(rng.normal(size=mask.shape)), mask)
    better_aup, better_aur = aup_aur(_exp(mask + 0.3 * rng.random(mask.shape)), mask)
    assert (better_aup > noise_aup).all() and (better_aur > noise_aur).all()
    zero_aup, zero_aur = aup_aur(_exp(np.zeros((1, 2, 30))), mask[:1])
    assert zero_aup[0] == 0 and zero_aur[0] == 0


def test_shared_maps_are_broadcast_over_channels_explicitly():
    mask = np.zeros((1, 2, 10), bool)
    mask[0, 0, 3] = True
    shared = np.zeros((1, 1, 10))
    shared[0, 0, 3] = 1.0
    exp = _exp(shared, per_channel=False)
    # The point is ranked first together with its twin in channel 1.
    assert average_precision_score(exp, mask)[0] == pytest.approx(0.5)
    assert roc_auc_score(exp, mask)[0] == pytest.approx(1 - 0.5 / 19)
    assert relevance_mass_score(exp, mask)[0] == pytest.approx(0.5)
    explicit = _exp(np.repeat(shared, 2, axis=1))
    np.testing.assert_array_equal(aup_aur(exp, mask), aup_aur(explicit, mask))


@pytest.mark.parametrize(
    "score", [average_precision_score, roc_auc_score, relevance_mass_score, aup_aur]
)
def test_mask_shape_is_checked(score):
    with pytest.raises(ValueError, match="mask"):
        score(_exp(np.zeros((1, 2, 10))), np.zeros((1, 10), bool))


def test_empty_mask_gives_nan():
    assert np.isnan(
        average_precision_score(_exp(np.ones((1, 2, 10))), np.zeros((1, 2, 10), bool))[0]
    )
    assert np.isnan(roc_auc_score(_exp(np.ones((1, 2, 10))), np.zeros((1, 2, 10), bool))[0])


def test_aup_aur_is_a_named_pair(rng):
    from chronolens.explanation import Explanation
    from chronolens.metrics import AupAur

    x = rng.normal(size=(2, 1, 10)).astype(np.float32)
    maps = np.zeros_like(x)
    maps[:, :, 2:5] = 1.0
    mask = maps > 0
    exp = Explanation(
        x=x,
        attributions=maps,
        target=np.zeros(2, dtype=np.int64),
        scores=np.zeros((2, 2), np.float32),
        method="m",
        params={},
        per_channel=True,
        layout="ncl",
    )
    result = aup_aur(exp, mask)
    assert isinstance(result, AupAur)
    aup, aur = result
    np.testing.assert_array_equal(result.aup, aup)
    np.testing.assert_array_equal(result.aur, aur)
    # a perfect map: precision 1 at every share, so AUP is the trapezoid over 0.1..0.9 = 0.8
    np.testing.assert_allclose(result.aup, 0.8)
