"""The WebTraffic generator of MILLET (Early et al., ICLR 2024), rewritten for chronolens."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chronolens._validation import check_bool, check_int
from chronolens.datasets._dataset import Dataset

WEBTRAFFIC_CLASSES = (
    "none",
    "spikes",
    "flip",
    "skew",
    "noise",
    "cutoff",
    "average",
    "wander",
    "peak",
    "trough",
)
_N_TIMEPOINTS = 1008  # one week at one sample every 10 minutes
_WINDOW = (36, 288)  # a quarter of a day to two days, both inclusive


def _warped_sine(
    n_cycles: int, amplitude: float, intercept: float, phase: float, skew: float
) -> np.ndarray:
    xs = (np.linspace(0.0, n_cycles, _N_TIMEPOINTS) - phase) * 2.0 * np.pi
    return np.asarray(amplitude / 2.0 * np.sin(xs - np.sin(xs) / skew) + intercept)


def _week(rng: np.random.Generator) -> np.ndarray:
    """One week of traffic: a warped daily sine, sampled with noise, times a weekly sine."""
    amplitude = rng.uniform(2, 4)
    intercept = rng.uniform(2.5, 5)
    phase = rng.uniform(-0.05, 0.05)
    skew = rng.uniform(1.0, 3.0)
    sample_std = rng.uniform(0.1, 0.3)
    week_amplitude = rng.uniform(0.8, 1.2)
    weekly = _warped_sine(1, week_amplitude, 1.0, 0.6, 2.0)
    daily = _warped_sine(7, amplitude, intercept, phase + 0.55, skew)
    return np.asarray(rng.normal(daily, sample_std) * weekly)


def _window(rng: np.random.Generator) -> tuple[int, int]:
    length = int(rng.integers(_WINDOW[0], _WINDOW[1] + 1))
    start = int(rng.integers(0, _N_TIMEPOINTS - length + 1))
    return start, start + length


def _spikes(ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each point is a spike with probability 1 %: +-N(3, 0.2). Returns the spike mask."""
    on = rng.random(ts.size) < 0.01
    values = rng.normal(3.0, 0.2, ts.size) * rng.choice([-1.0, 1.0], ts.size)
    ts += on * values
    return on


def _in_window(ts: np.ndarray, rng: np.random.Generator, name: str) -> np.ndarray:
    """Apply one windowed signature in place; return the window's mask."""
    start, end = _window(rng)
    length = end - start
    part = ts[start:end]
    if name == "flip":
        ts[start:end] = part[::-1].copy()
    elif name == "skew":  # move the window's midpoint to 5-25 % from either end
        fraction = 0.5 + rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.45)
        point = int(length * fraction)
        middle = length // 2
        left = np.linspace(0, middle, point)
        right = np.linspace(middle, length - 1, length - point)
        ts[start:end] = np.interp(np.concatenate([left, right]), np.arange(length), part)
    elif name == "noise":
        ts[start:end] += rng.normal(0.0, rng.uniform(0.5, 1.0), length)
    elif name == "cutoff":
        ts[start:end] = rng.normal(rng.uniform(0.0, 0.2), 0.1, length)
    elif name == "average":  # moving average of width 5..9 (np.convolve "same")
        width = int(rng.integers(5, 10))
        ts[start:end] = (np.convolve(ts, np.ones(width), "same") / width)[start:end]
    elif name == "wander":
        ts[start:end] += np.linspace(0.0, rng.choice([-1.0, 1.0]) * rng.uniform(2.0, 3.0), length)
    else:  # peak or trough: times 1 + s * standard normal pdf over [-5, 5]
        scale = rng.uniform(1.5, 2.5) * (-1.0 if name == "trough" else 1.0)
        grid = np.linspace(-5.0, 5.0, length)
        ts[start:end] *= 1.0 + scale * np.exp(-(grid**2) / 2.0) / np.sqrt(2.0 * np.pi)
    mask = np.zeros(ts.size, dtype=bool)
    mask[start:end] = True
    return mask


def _signature(name: str) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    if name == "none":
        return lambda ts, rng: np.ones(ts.size, dtype=bool)
    if name == "spikes":
        return _spikes
    return lambda ts, rng: _in_window(ts, rng, name)


def make_webtraffic(
    n_cases: int = 500, *, seed: int = 0, normalize: bool = True, shuffle: bool = False
) -> Dataset:
    """Make MILLET's WebTraffic series: a week of web traffic with one planted signature.

    Each case is one week sampled every 10 minutes (1,008 points, one channel): a daily sine
    warped by a random skew, sampled with Gaussian noise, times a weekly sine. Class ``k`` > 0
    plants one signature: ``spikes`` (each point with probability 1 %), or, in one window of
    36-288 points, ``flip`` (time reversed), ``skew`` (midpoint moved), ``noise``, ``cutoff``
    (traffic near zero), ``average`` (smoothed), ``wander`` (a linear drift of 2-3), ``peak``
    or ``trough`` (a Gaussian bump). Class 0 (``none``) has no signature, and, as in MILLET,
    its mask marks every time step as evidence. Unpacks as ``X, y, mask``.

    Parameters
    ----------
    n_cases : int, default=500
        Number of series; classes take turns (``y[i] = i % 10``), so every class has
        ``n_cases // 10`` or one more. MILLET's train and test sets have 500 each.
    seed : int, default=0
        Seed of the NumPy generator; the same seed gives the same data.
    normalize : bool, default=True
        Z-normalise each series (mean 0, standard deviation 1 with ``ddof=1``), as MILLET's
        data loader does before training and evaluation.
    shuffle : bool, default=False
        Shuffle the cases (otherwise classes cycle 0, 1, ..., 9, 0, ...).

    Returns
    -------
    Dataset
        ``X`` float32 (n_cases, 1, 1008), ``y`` int64 in 0..9 (names in ``class_names``),
        ``mask`` bool of the shape of ``X``: the signature window, the spike points, or every
        point for class 0.

    Notes
    -----
    Written from the definitions in MILLET's ``web_traffic_generation.py`` (all ranges, the
    warped sine, the weekly factor, clipping at 0 after injection, a window's end exclusive).
    Differences: a seeded ``numpy.random.Generator`` instead of the global NumPy state, so the
    series are not MILLET's published files (same distribution, other draws); SciPy's linear
    ``interp1d`` and ``norm.pdf`` are written with NumPy (same values); the per-class block
    order of their files is replaced by cycling classes. A ``spikes`` case draws no spike with
    probability 0.99 ** 1008 (about 4e-5); its mask is then empty (NDCG is NaN there).

    References
    ----------
    Early, Cheung, Cutajar, Xie, Kowalski, Kim, Fleming (2024). Inherently Interpretable Time
    Series Classification via Multiple Instance Learning. ICLR.

    Examples
    --------
    >>> from chronolens.datasets import make_webtraffic
    >>> X, y, mask = make_webtraffic(20, seed=1)
    >>> X.shape, bool(mask[0].all())
    ((20, 1, 1008), True)
    """
    n_cases = check_int(n_cases, "n_cases", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    normalize = check_bool(normalize, "normalize")
    shuffle = check_bool(shuffle, "shuffle")
    rng = np.random.default_rng(seed)
    y = np.arange(n_cases, dtype=np.int64) % len(WEBTRAFFIC_CLASSES)
    if shuffle:
        y = rng.permutation(y)
    X = np.empty((n_cases, 1, _N_TIMEPOINTS))
    mask = np.zeros((n_cases, 1, _N_TIMEPOINTS), dtype=bool)
    for i, label in enumerate(y):
        ts = _week(rng)
        mask[i, 0] = _signature(WEBTRAFFIC_CLASSES[label])(ts, rng)
        X[i, 0] = np.clip(ts, 0.0, None)
    if normalize:
        std = X.std(axis=2, ddof=1, keepdims=True)
        X = (X - X.mean(axis=2, keepdims=True)) / np.where(std == 0, 1.0, std)
    return Dataset(
        X=X.astype(np.float32),
        y=y,
        mask=mask,
        class_names=WEBTRAFFIC_CLASSES,
        channel_names=("traffic",),
        name="WebTraffic (Early et al. 2024, MILLET)",
    )
