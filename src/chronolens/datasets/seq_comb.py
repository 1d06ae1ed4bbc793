"""SeqComb-UV and SeqComb-MV (Queen et al. 2023, TimeX): the class is a pair of trends."""

from __future__ import annotations

import numpy as np

from chronolens._validation import check_int
from chronolens.datasets._dataset import Dataset
from chronolens.datasets._narma import narma
from chronolens.datasets.freq_shapes import balanced_classes

#: class code -> (first rises?, second rises?); class 0 holds no pattern.
_TRENDS = {1: (False, False), 2: (True, True), 3: (True, False)}
_CLASS_NAMES = (
    "none",
    "decreasing, decreasing",
    "increasing, increasing",
    "increasing, decreasing",
)


def _insert_patterns(
    rng: np.random.Generator,
    series: np.ndarray,
    mask: np.ndarray,
    code: int,
    lengths: tuple[int, int],
    wave_rate: float,
) -> None:
    """Write the class's two sloped, sine-modulated subsequences into one case, in place."""
    n_channels, n_timepoints = series.shape
    if n_channels > 1:
        channels = rng.choice(n_channels, size=2, replace=False)
    else:
        channels = np.zeros(2, dtype=np.int64)
    low, high = -5 * abs(series.min()), 5 * abs(series.max())
    end_of_first = 0
    for j, rises in enumerate(_TRENDS[code]):
        length = int(rng.integers(*lengths))
        if j == 0:
            start = int(rng.integers(0, n_timepoints // 2))
        else:
            start = int(rng.integers(end_of_first, n_timepoints - length))
        end_of_first = start + length
        frequency = rng.poisson(wave_rate)
        x = np.arange(-(length // 2), length // 2 + length % 2)
        first, last = (low, high) if rises else (high, low)
        slope = (last - first) / length
        series[channels[j], start : start + length] = slope * x + np.sin(frequency * x)
        mask[channels[j], start : start + length] = True


def _seq_comb(
    n_cases: int,
    n_channels: int,
    n_timepoints: int,
    seed: int,
    lengths: tuple[int, int],
    wave_rate: float,
    name: str,
) -> Dataset:
    n_cases = check_int(n_cases, "n_cases", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    minimum = 4 * lengths[1]
    n_timepoints = check_int(n_timepoints, "n_timepoints", minimum=minimum)
    rng = np.random.default_rng(seed)
    y = balanced_classes(rng, n_cases, 4)
    X = narma(rng, (n_cases, n_channels), n_timepoints) + rng.normal(
        0.0, 0.01, size=(n_cases, n_channels, n_timepoints)
    )
    mask = np.zeros(X.shape, dtype=bool)
    for i, code in enumerate(y):
        if code:
            _insert_patterns(rng, X[i], mask[i], int(code), lengths, wave_rate)
    return Dataset(
        X=X.astype(np.float32),
        y=y,
        mask=mask,
        class_names=_CLASS_NAMES,
        channel_names=tuple(f"sensor_{c}" for c in range(n_channels)),
        name=name,
    )


def make_seqcomb_uv(n_cases: int = 1000, *, n_timepoints: int = 200, seed: int = 0) -> Dataset:
    """Make SeqComb-UV: two trending subsequences in one NARMA series; their directions decide.

    The background is a NARMA(2) series plus ``N(0, 0.01)`` noise. Classes 1-3 overwrite two
    subsequences of 10-19 points, the second starting after the first ends: a line between
    ``-5 |min|`` and ``5 |max|`` of the series (decreasing or increasing), plus
    ``sin(f x)`` with ``f ~ Poisson(10)``. Class 0 ("none") has no subsequence; 1 = both
    decreasing, 2 = both increasing, 3 = increasing then decreasing.

    Parameters
    ----------
    n_cases : int, default=1000
        TimeX trains on 5,000 and tests on 1,000.
    n_timepoints : int, default=200
        At least 80 (room for both subsequences).
    seed : int, default=0

    Returns
    -------
    Dataset
        One channel; ``mask`` is True on the two subsequences (empty in class 0).

    Notes
    -----
    Follows the public generator of TimeX's SeqComb-UV data (``seq_comb_better``).

    References
    ----------
    Queen et al. (2023). Encoding time-series explanations through self-supervised model
    behavior consistency. NeurIPS (TimeX).

    Examples
    --------
    >>> from chronolens.datasets import make_seqcomb_uv
    >>> X, y, mask = make_seqcomb_uv(8)
    >>> X.shape, int(mask[y == 0].sum())
    ((8, 1, 200), 0)
    """
    return _seq_comb(n_cases, 1, n_timepoints, seed, (10, 20), 10.0, "SeqComb-UV (TimeX)")


def make_seqcomb_mv(
    n_cases: int = 1000, *, n_timepoints: int = 200, n_channels: int = 4, seed: int = 0
) -> Dataset:
    """Make SeqComb-MV: as SeqComb-UV, with the two subsequences in two different channels.

    Every channel is NARMA(2) plus ``N(0, 0.01)``; the two subsequences (15-29 points,
    ``sin(f x)`` with ``f ~ Poisson(5)``) go into two distinct channels drawn per case.

    Parameters
    ----------
    n_cases : int, default=1000
    n_timepoints : int, default=200
        At least 120.
    n_channels : int, default=4
        TimeX's four sensors; at least 2.
    seed : int, default=0

    Returns
    -------
    Dataset
        ``mask`` is True on the two subsequences (empty in class 0).

    References
    ----------
    Queen et al. (2023). Encoding time-series explanations through self-supervised model
    behavior consistency. NeurIPS (TimeX).

    Examples
    --------
    >>> from chronolens.datasets import make_seqcomb_mv
    >>> X, y, mask = make_seqcomb_mv(8)
    >>> X.shape
    (8, 4, 200)
    """
    n_channels = check_int(n_channels, "n_channels", minimum=2)
    return _seq_comb(n_cases, n_channels, n_timepoints, seed, (15, 30), 5.0, "SeqComb-MV (TimeX)")
