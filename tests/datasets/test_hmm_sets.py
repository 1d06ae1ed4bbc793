"""State and Switch-Feature: the generators against the published chains, means and label laws."""

import numpy as np
import pytest

from chronolens.datasets import Dataset, make_state, make_switch_feature

# The published parameters (time_interpret's HMM; FIT / ContraLSP's switch-state generator).
STATE_MEANS = [[0.1, 1.6, 0.5], [-0.1, -0.4, -1.5]]
SWITCH_MEANS = [[0.8, -0.5, -0.2], [0.0, -1.0, 0.0], [-0.2, -0.2, 0.8]]
SWITCH_TRANSITIONS = [[0.95, 0.02, 0.03], [0.02, 0.95, 0.03], [0.03, 0.02, 0.95]]


def _newton_logistic(features, labels, steps=25):
    """Unregularised logistic regression by Newton's method: (coefficients, standard errors).

    The first coefficient is the bias; the standard errors are the square roots of the
    inverse Fisher information's diagonal.
    """
    a = np.column_stack([np.ones(len(features)), features])
    w = np.zeros(a.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-a @ w))
        hessian = a.T @ (a * (p * (1 - p))[:, None])
        w += np.linalg.solve(hessian, a.T @ (labels - p))
    return w, np.sqrt(np.diag(np.linalg.inv(hessian)))


def _decisive_and_others(data):
    """Per (case, time): the masked channel's value, then the two other channels' values."""
    x = data.X.transpose(0, 2, 1).reshape(-1, 3)
    m = data.mask.transpose(0, 2, 1).reshape(-1, 3)
    decisive = x[m]
    others = x[~m].reshape(-1, 2)
    return decisive, others, data.step_labels.reshape(-1)


@pytest.mark.parametrize("make, length", [(make_state, 200), (make_switch_feature, 100)])
def test_online_sets_shapes_labels_and_seed(make, length):
    data = make(30, seed=4)
    assert isinstance(data, Dataset)
    assert data.X.shape == data.mask.shape == (30, 3, length)
    assert data.step_labels.shape == (30, length) and data.step_labels.dtype == np.int64
    np.testing.assert_array_equal(data.y, data.step_labels[:, -1])
    assert np.all(data.mask.sum(axis=1) == 1)  # one decisive channel at every time point
    again, other = make(30, seed=4), make(30, seed=5)
    np.testing.assert_array_equal(data.X, again.X)
    np.testing.assert_array_equal(data.step_labels, again.step_labels)
    assert not np.array_equal(data.X, other.X)
    part = data[3:7]
    np.testing.assert_array_equal(part.step_labels, data.step_labels[3:7])
    assert repr(data).endswith("mask=yes, a label per time point (step_labels))")


@pytest.mark.parametrize("make, slope", [(make_state, 2.0), (make_switch_feature, 3.0)])
def test_the_label_follows_the_masked_channel_alone(make, slope):
    # The label law: P(y_t = 1 | x) = sigmoid(slope * x[masked channel, t]). A logistic
    # regression on the masked value and the other two channels recovers the slope on the
    # first and nothing on the others: given the masked point, the rest says nothing. Each
    # coefficient must lie within 4 standard errors of its true value (a Wald test).
    decisive, others, labels = _decisive_and_others(make(1500, seed=0))
    weights, errors = _newton_logistic(np.column_stack([decisive, others]), labels)
    truth = np.array([0.0, slope, 0.0, 0.0])
    assert np.all(np.abs(weights - truth) < 4 * errors), (weights, errors)
    assert errors[1] < 0.02 * slope  # and the test has the power to see a 5 % error


def test_state_chain_and_emissions_match_the_published_hmm():
    data = make_state(3000, seed=1)
    states = data.mask[:, 2].astype(int)  # state 0 makes channel 1 decide, state 1 channel 2
    assert np.array_equal(data.mask[:, 1], states == 0)
    before, after = states[:, :-1], states[:, 1:]
    assert after[before == 0].mean() == pytest.approx(0.05, abs=0.005)
    # From state 1 the chain stays with probability 0.95 - d / 500 after d steps there.
    dwell = np.zeros(states.shape[0])
    stays, expected = [], []
    for t in range(states.shape[1] - 1):
        in_one = states[:, t] == 1
        stays.append(states[in_one, t + 1] == 1)
        expected.append(0.95 - dwell[in_one] / 500)
        dwell = np.where(states[:, t + 1] == states[:, t], dwell + 1, 0)
    assert np.concatenate(stays).mean() == pytest.approx(np.concatenate(expected).mean(), abs=0.005)
    x = data.X.transpose(0, 2, 1)
    for s, mean in enumerate(STATE_MEANS):
        points = x[states == s]
        np.testing.assert_allclose(points.mean(0), mean, atol=0.02)
        np.testing.assert_allclose(points.var(0), 0.801, rtol=0.03)


def test_switch_feature_chain_and_emissions_match_the_published_hmm():
    data = make_switch_feature(3000, seed=2)
    states = data.mask.argmax(axis=1)
    first = np.bincount(states[:, 0], minlength=3) / len(states)
    np.testing.assert_allclose(first, [2 / 3, 1 / 3, 0.0], atol=0.03)
    before, after = states[:, :-1].ravel(), states[:, 1:].ravel()
    for s, row in enumerate(SWITCH_TRANSITIONS):
        empirical = np.bincount(after[before == s], minlength=3) / (before == s).sum()
        np.testing.assert_allclose(empirical, row, atol=0.005)
    x = data.X.transpose(0, 2, 1)
    for s, mean in enumerate(SWITCH_MEANS):
        points = x[states == s]
        np.testing.assert_allclose(points.mean(0), mean, atol=0.01)
        np.testing.assert_allclose(points.var(0), 0.1, rtol=0.03)


def test_step_labels_are_checked():
    X = np.zeros((2, 1, 4))
    common = {"X": X, "y": np.zeros(2, int), "mask": None, "class_names": ("a", "b")}
    with pytest.raises(ValueError, match="step_labels.*shape \\(2, 4\\)"):
        Dataset(**common, channel_names=("c",), name="n", step_labels=np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="range\\(2\\)"):
        Dataset(**common, channel_names=("c",), name="n", step_labels=np.full((2, 4), 2))
