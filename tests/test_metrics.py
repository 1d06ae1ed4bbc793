import numpy as np
import pytest

from chronolens import Explanation
from chronolens.metrics import average_precision_score


def _exp(attributions, per_channel=True):
    n, _, t = attributions.shape
    x = np.zeros((n, 2, t), np.float32)
    return Explanation(
        x=x,
        attributions=attributions.astype(np.float32),
        target=None,
        scores=np.zeros((n, 1)),
        method="m",
        per_channel=per_channel,
    )


def _brute_force_ap(scores, truth):
    """Mean of precision at each positive's rank (no ties)."""
    order = np.argsort(-scores)
    hits = truth[order]
    precisions = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return precisions[hits].mean()


def test_perfect_map_scores_one_and_matches_brute_force():
    rng = np.random.default_rng(0)
    mask = np.zeros((3, 2, 30), bool)
    mask[:, 1, 10:15] = True
    assert np.allclose(average_precision_score(_exp(mask * 1.0 + 0.0), mask), 1.0)
    scores = rng.normal(size=(3, 2, 30))
    expected = [_brute_force_ap(np.abs(s).ravel(), m.ravel()) for s, m in zip(scores, mask)]
    np.testing.assert_allclose(average_precision_score(_exp(scores), mask), expected, rtol=1e-6)


def test_shared_map_is_broadcast_over_channels():
    mask = np.zeros((1, 2, 10), bool)
    mask[0, 0, 3] = True
    shared = np.zeros((1, 1, 10))
    shared[0, 0, 3] = 1.0
    assert average_precision_score(_exp(shared, per_channel=False), mask)[0] == pytest.approx(0.5)


def test_mask_shape_is_checked():
    with pytest.raises(ValueError, match="mask"):
        average_precision_score(_exp(np.zeros((1, 2, 10))), np.zeros((1, 10), bool))
