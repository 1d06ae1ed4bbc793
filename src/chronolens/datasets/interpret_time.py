"""The InterpretTime generator (Turbé et al., 2023) as extended by Serramazza et al. (2024)."""

from __future__ import annotations

import numpy as np

from chronolens._validation import check_float, check_int
from chronolens.datasets._dataset import Dataset

_SUPPORT_FREQUENCIES = (10, 50)  # integer cycles per series, low inclusive, high exclusive
_BASE_FREQUENCIES = (2.0, 5.0)  # cycles per series


def make_interpret_time(
    n_cases: int = 1000,
    *,
    n_channels: int = 8,
    n_timepoints: int = 500,
    burst_length: int = 100,
    noise: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """Make InterpretTime-style series: the class is told by two sine bursts' frequencies.

    Every channel carries a base sine; two discriminative channels per case carry a sine burst
    of ``burst_length`` points each, and the label says whether the two burst frequencies add
    up to more than the median of their sum. Square-wave bursts in about half of the other
    channels are distractors. ``mask`` is True exactly on the two bursts. Unpacks as
    ``X, y, mask``.

    Parameters
    ----------
    n_cases : int, default=1000
    n_channels : int, default=8
        At least 3 (two discriminative channels and one for distractors).
    n_timepoints : int, default=500
        At least ``burst_length``.
    burst_length : int, default=100
        Length of the sine bursts and of the square-wave distractors.
    noise : float, default=0.0
        Standard deviation of white noise added everywhere (the original has none).
    seed : int, default=0
        Seed of the NumPy generator; the same seed gives the same data.

    Returns
    -------
    Dataset
        ``X`` float32 (n_cases, n_channels, n_timepoints), ``y`` in {0, 1} ("low", "high"),
        ``mask`` bool of the shape of ``X``.

    Notes
    -----
    As in the authors' public generator: per case and channel, the base is
    ``0.5 sin(2 pi f0 t / T)`` with ``f0 ~ U(2, 5)`` cycles per series. Two distinct channels,
    drawn per case, each get a burst at a uniformly random start: the first ``burst_length``
    points of ``sin(2 pi f t / T)``, with ``f`` an integer drawn uniformly from 10..49 cycles
    per series (2 to 10 cycles within a 100-point burst) independently for the two;
    ``y = 1`` when ``f1 + f2 > 59``, the median of the sum. Every other channel gets, with
    probability 1/2, a square burst ``sign(sin(2 pi f t / T))`` of the same kind of frequency.
    Because the frequencies are integers, neighbouring sums differ by one cycle per series:
    hard, but decidable, so a 1D ResNet reaches an accuracy of .868 (Serramazza et al., 2024).
    The frequency ranges of the authors' configuration file are not published with the
    generator; these are chosen so that every burst shows 2 to 10 full cycles.

    References
    ----------
    Turbé, Bjelogrlic, Lovis, Mengaldo (2023). Evaluation of post-hoc interpretability methods
    in time-series classification. Nature Machine Intelligence.
    Serramazza, Nguyen, Le Nguyen, Ifrim (2024). Improving the evaluation and actionability of
    explanation methods for multivariate time series classification. ECML-PKDD.

    Examples
    --------
    >>> from chronolens.datasets import make_interpret_time
    >>> X, y, mask = make_interpret_time(20, seed=1)
    >>> X.shape, int(mask[0].sum())
    ((20, 8, 500), 200)
    """
    n_cases = check_int(n_cases, "n_cases", minimum=1)
    n_channels = check_int(n_channels, "n_channels", minimum=3)
    burst_length = check_int(burst_length, "burst_length", minimum=2)
    n_timepoints = check_int(n_timepoints, "n_timepoints", minimum=burst_length)
    noise = check_float(noise, "noise", minimum=0.0)
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    n, c, t, length = n_cases, n_channels, n_timepoints, burst_length

    time = np.arange(t)
    base_frequency = rng.uniform(*_BASE_FREQUENCIES, size=(n, c, 1))
    X = 0.5 * np.sin(2 * np.pi * base_frequency * time / t)
    if noise > 0:
        X += noise * rng.standard_normal((n, c, t))
    mask = np.zeros((n, c, t), dtype=bool)

    channels = np.argsort(rng.random((n, c)), axis=1)
    frequencies = rng.integers(*_SUPPORT_FREQUENCIES, size=(n, c))
    starts = rng.integers(0, t - length + 1, size=(n, c))
    square_on = rng.random((n, c)) < 0.5
    local = np.arange(length)
    cases = np.arange(n)
    for j in range(c):
        channel = channels[:, j]
        wave = np.sin(2 * np.pi * frequencies[:, j, None] * local / t)
        if j >= 2:  # distractors: square waves in about half of the other channels
            wave = np.sign(wave) * square_on[:, j, None]
        index = starts[:, j, None] + local
        X[cases[:, None], channel[:, None], index] += wave
        if j < 2:
            mask[cases[:, None], channel[:, None], index] = True
    low, high = _SUPPORT_FREQUENCIES
    y = (frequencies[:, :2].sum(axis=1) > low + high - 1).astype(np.int64)
    return Dataset(
        X=X.astype(np.float32),
        y=y,
        mask=mask,
        class_names=("low", "high"),
        channel_names=tuple(f"channel_{i}" for i in range(c)),
        name="InterpretTime (Turbé et al. 2023, Serramazza et al. 2024)",
    )
