import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from chronolens import zoo
from chronolens.metrics import model_randomization
from chronolens.metrics.sanity import spearman
from chronolens.testing import assert_model_unchanged, model_state, tiny_conv_model


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN trained to find a bump in channel 0 (class 1)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3, 40)).astype(np.float32)
    y = rng.integers(0, 2, 120)
    x[y == 1, 0, 10:20] += 2.0
    model = tiny_conv_model(3, 2, seed=0)
    history = zoo.fit(model, x, y, epochs=15, lr=1e-2, progress=False)
    assert history["accuracy"][-1] > 0.8
    return model, x[:6]


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    a = np.round(rng.normal(size=(4, 2, 15)), 1)
    b = np.round(a + rng.normal(size=a.shape), 1)
    expected = [spearmanr(u.ravel(), v.ravel()).statistic for u, v in zip(a, b)]
    np.testing.assert_allclose(spearman(a, b), expected, rtol=1e-10)
    assert np.isnan(spearman(np.ones((1, 5)), a[:1, 0, :5])[0])


def test_gradients_of_trained_model_pass_and_model_is_untouched(trained):
    model, x = trained
    before = model_state(model)
    result = model_randomization(model, x, "saliency")
    assert_model_unchanged(model, before)
    assert result.passed
    assert result.stages == ("fc", "conv2", "bn1", "conv1")  # output layer first
    assert result.absolute.shape == result.signed.shape == (4, 6)
    assert abs(result.mean_absolute[-1]) < result.threshold
    assert "passed" in repr(result)


def test_method_ignoring_the_model_fails(trained):
    model, x = trained
    result = model_randomization(model, x, lambda _model, series: series)
    assert not result.passed
    np.testing.assert_allclose(result.absolute, 1.0)
    np.testing.assert_allclose(result.signed, 1.0)


def test_independent_randomization_changes_one_layer_at_a_time(trained):
    model, x = trained
    seen = []

    def probe(copy, series):
        seen.append({k: v.clone() for k, v in copy.state_dict().items()})
        return series * 0 + np.arange(series.shape[-1])  # any map will do

    before = model_state(model)
    result = model_randomization(model, x, probe, randomization="independent")
    assert_model_unchanged(model, before)
    original = model.state_dict()
    assert len(seen) == 1 + len(result.stages)
    for stage, state in zip(result.stages, seen[1:]):
        changed = {k.rsplit(".", 1)[0] for k in original if not torch.equal(original[k], state[k])}
        assert changed == {stage}
    cascade = []
    model_randomization(
        model, x, lambda m, s: cascade.append(dict(m.state_dict())) or s, randomization="cascading"
    )
    changed_last = {k for k in original if not torch.equal(original[k], cascade[-1][k])}
    assert {k.rsplit(".", 1)[0] for k in changed_last} == set(result.stages)


def test_bad_input_is_named(trained):
    model, x = trained
    with pytest.raises(ValueError, match="randomization"):
        model_randomization(model, x, "saliency", randomization="cascade")
    with pytest.raises(ValueError, match="threshold"):
        model_randomization(model, x, "saliency", threshold=2.0)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        model_randomization(object(), x, "saliency")
    with pytest.raises(ValueError, match="Unknown method"):
        model_randomization(model, x, "salincy")
