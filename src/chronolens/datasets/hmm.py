"""The HMM benchmarks of the time-series saliency literature: State and Switch-Feature.

Both are online tasks: a hidden Markov chain picks, at every time point, which of three
channels decides that time point's label. They follow the public generators of time_interpret
(State, after Dynamask) and of FIT / ContraLSP (Switch-Feature), re-implemented here.
"""

from __future__ import annotations

import numpy as np

from chronolens._validation import check_int
from chronolens.datasets._dataset import Dataset

# State (Crabbé and van der Schaar 2021, as time_interpret's ``HMM`` generates it): two states,
# a Gaussian per state over three channels; state s makes channel _STATE_IMPORTANT[s] decide.
_STATE_MEANS = np.array([[0.1, 1.6, 0.5], [-0.1, -0.4, -1.5]])
_STATE_IMPORTANT = np.array([1, 2])
_STATE_CORRELATED = np.array([0, 0])

# Switch-Feature (Tonekaboni et al. 2020, FIT; the data of ContraLSP and TIMING): three states,
# state s makes channel s decide; within a state every channel is N(mean, 0.1).
_SWITCH_MEANS = np.array([[0.8, -0.5, -0.2], [0.0, -1.0, 0.0], [-0.2, -0.2, 0.8]])
_SWITCH_TRANSITIONS = np.array([[0.95, 0.02, 0.03], [0.02, 0.95, 0.03], [0.03, 0.02, 0.95]])
_SWITCH_VARIANCE = 0.1


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _state_covariances() -> np.ndarray:
    """0.8 I, with 0.01 between each state's decisive channel and its correlated one, + 1e-3 I."""
    covariances = []
    for important, correlated in zip(_STATE_IMPORTANT, _STATE_CORRELATED, strict=True):
        c = np.eye(3) * 0.8
        c[important, correlated] = c[correlated, important] = 0.01
        covariances.append(c + np.eye(3) * 1e-3)
    return np.array(covariances)


def _online_dataset(
    X: np.ndarray, states: np.ndarray, important: np.ndarray, labels: np.ndarray, name: str
) -> Dataset:
    n_cases, n_channels, n_timepoints = X.shape
    mask = np.zeros(X.shape, dtype=bool)
    cases, times = np.meshgrid(np.arange(n_cases), np.arange(n_timepoints), indexing="ij")
    mask[cases, important[states], times] = True
    return Dataset(
        X=X.astype(np.float32),
        y=labels[:, -1].astype(np.int64),
        mask=mask,
        class_names=("negative", "positive"),
        channel_names=tuple(f"feature_{i}" for i in range(n_channels)),
        name=name,
        step_labels=labels.astype(np.int64),
    )


def make_state(n_cases: int = 1000, *, n_timepoints: int = 200, seed: int = 0) -> Dataset:
    """Make the HMM "State" data: a two-state chain picks the channel that decides each label.

    At every time point a two-state Markov chain moves (from state 1 it stays with probability
    ``0.95 - d / 500``, ``d`` the time already spent there; from state 0 it moves to 1 with
    probability 0.05), the three channels are drawn from the state's Gaussian (means
    ``(0.1, 1.6, 0.5)`` and ``(-0.1, -0.4, -1.5)``, covariance ``0.8 I`` with a 0.01 link
    between the decisive channel and channel 0, plus ``1e-3 I``), and the label is drawn as
    ``Bernoulli(sigmoid(2 x[k, t]))`` with ``k`` = 1 in state 0 and 2 in state 1.

    Parameters
    ----------
    n_cases : int, default=1000
        The papers use 800 training and 200 test cases.
    n_timepoints : int, default=200
    seed : int, default=0

    Returns
    -------
    Dataset
        ``X`` of shape (n_cases, 3, n_timepoints); ``step_labels`` (n_cases, n_timepoints) holds
        the label of every time point and ``y`` the last one; ``mask[i, k, t]`` is True on the
        channel that decides the label at ``t`` (the true saliency as time_interpret defines
        it: every time point, the current state's channel).

    Notes
    -----
    The chain starts from a fair coin and makes its first move before the first time point,
    as the public generator does. The ``2`` in the sigmoid is the authors' (kept, their code
    says, for comparison with Dynamask).

    References
    ----------
    Crabbé, van der Schaar (2021). Explaining time series predictions with dynamic masks. ICML.
    Enguehard (2023). Learning perturbations to explain time series predictions. ICML
    (time_interpret).

    Examples
    --------
    >>> from chronolens.datasets import make_state
    >>> data = make_state(4, n_timepoints=50)
    >>> data.X.shape, data.step_labels.shape
    ((4, 3, 50), (4, 50))
    """
    n_cases = check_int(n_cases, "n_cases", minimum=1)
    n_timepoints = check_int(n_timepoints, "n_timepoints", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    states = np.zeros((n_cases, n_timepoints), dtype=np.int64)
    previous = (rng.random(n_cases) < 0.5).astype(np.int64)
    dwell = np.zeros(n_cases)
    for t in range(n_timepoints):
        p_one = np.where(previous == 1, np.clip(0.95 - dwell / 500, 0.0, 1.0), 0.05)
        current = (rng.random(n_cases) < p_one).astype(np.int64)
        dwell = np.where(current == previous, dwell + 1, 0.0)
        states[:, t] = previous = current
    factors = np.linalg.cholesky(_state_covariances())
    noise = rng.standard_normal((n_cases, n_timepoints, 3))
    X = _STATE_MEANS[states] + np.einsum("ntij,ntj->nti", factors[states], noise)
    decisive = np.take_along_axis(X, _STATE_IMPORTANT[states][..., None], axis=2)[..., 0]
    labels = (rng.random(decisive.shape) < _sigmoid(2.0 * decisive)).astype(np.int64)
    return _online_dataset(
        X.transpose(0, 2, 1), states, _STATE_IMPORTANT, labels, "State (HMM, time_interpret)"
    )


def make_switch_feature(n_cases: int = 1000, *, n_timepoints: int = 100, seed: int = 0) -> Dataset:
    """Make the "Switch-Feature" data: a three-state chain switches the channel that decides.

    A three-state Markov chain (stay with probability 0.95; the published transition matrix
    otherwise) runs over the series; state ``s`` draws every channel from
    ``N(mean[s], 0.1)`` (means ``(0.8, -0.5, -0.2)``, ``(0, -1, 0)``, ``(-0.2, -0.2, 0.8)``)
    and the label at ``t`` is ``Bernoulli(sigmoid(3 x[s, t]))``: channel ``s`` decides.

    Parameters
    ----------
    n_cases : int, default=1000
        The public data hold 1,000 series, 800 for training.
    n_timepoints : int, default=100
    seed : int, default=0

    Returns
    -------
    Dataset
        ``X`` of shape (n_cases, 3, n_timepoints); ``step_labels`` holds every time point's
        label and ``y`` the last one; ``mask[i, s, t]`` is True on the current state's channel
        (the true saliency as ContraLSP and TIMING score it).

    Notes
    -----
    The public generator draws each state's stretch from a Gaussian process with length scale
    0.2 on an integer time grid: neighbouring points correlate by ``exp(-12.5)`` or less, so
    the stretch is drawn here as independent ``N(mean, 0.1)`` points. Like that generator, the
    first state is 1 with probability 1/3 and 0 otherwise (its ``binomial(1, 1/3)`` draw).

    References
    ----------
    Tonekaboni, Joshi, Campbell, Duvenaud, Goldenberg (2020). What went wrong and when?
    Instance-wise feature importance for time-series black-box models. NeurIPS (FIT).
    Liu et al. (2024). Explaining time series via contrastive and locally sparse perturbations.
    ICLR (ContraLSP).

    Examples
    --------
    >>> from chronolens.datasets import make_switch_feature
    >>> X, y, mask = make_switch_feature(4)
    >>> X.shape, mask.sum(axis=1).max()
    ((4, 3, 100), 1)
    """
    n_cases = check_int(n_cases, "n_cases", minimum=1)
    n_timepoints = check_int(n_timepoints, "n_timepoints", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    states = np.zeros((n_cases, n_timepoints), dtype=np.int64)
    states[:, 0] = (rng.random(n_cases) < 1 / 3).astype(np.int64)
    cumulative = np.cumsum(_SWITCH_TRANSITIONS, axis=1)
    for t in range(1, n_timepoints):
        u = rng.random(n_cases)[:, None]
        states[:, t] = np.minimum((u >= cumulative[states[:, t - 1]]).sum(axis=1), 2)
    noise = rng.standard_normal((n_cases, n_timepoints, 3)) * np.sqrt(_SWITCH_VARIANCE)
    X = _SWITCH_MEANS[states] + noise
    decisive = np.take_along_axis(X, states[..., None], axis=2)[..., 0]
    labels = (rng.random(decisive.shape) < _sigmoid(3.0 * decisive)).astype(np.int64)
    return _online_dataset(
        X.transpose(0, 2, 1), states, np.arange(3), labels, "Switch-Feature (HMM, FIT)"
    )
