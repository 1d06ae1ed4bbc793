"""LowVar (Queen et al. 2023, TimeX): a quiet stretch whose channel and sign decide the class."""

from __future__ import annotations

import numpy as np

from chronolens._validation import check_int
from chronolens.datasets._dataset import Dataset
from chronolens.datasets._narma import narma
from chronolens.datasets.freq_shapes import balanced_classes


def make_lowvar(
    n_cases: int = 1000, *, n_timepoints: int = 200, n_channels: int = 2, seed: int = 0
) -> Dataset:
    """Make LowVar: a quiet stretch at -1.5 or +1.5 in channel 0 or 1 of noisy NARMA series.

    Every channel is NARMA(2) plus ``N(0, 1)`` noise. One stretch of 10-19 points, starting
    uniformly in ``[20, n_timepoints - 40)``, is replaced by ``N(loc, 0.1)``: in channel 0
    for classes 0 and 1 and channel 1 for classes 2 and 3, with ``loc`` = -1.5 for classes 0
    and 2 and +1.5 for 1 and 3.

    Parameters
    ----------
    n_cases : int, default=1000
        TimeX trains on 5,000 and tests on 1,000.
    n_timepoints : int, default=200
        At least 80.
    n_channels : int, default=2
        TimeX's two sensors; at least 2 (channels past the first two are never decisive).
    seed : int, default=0

    Returns
    -------
    Dataset
        ``mask`` is True on the quiet stretch.

    References
    ----------
    Queen et al. (2023). Encoding time-series explanations through self-supervised model
    behavior consistency. NeurIPS (TimeX).

    Examples
    --------
    >>> from chronolens.datasets import make_lowvar
    >>> X, y, mask = make_lowvar(8)
    >>> X.shape, mask.sum(axis=(1, 2)).min() >= 10
    ((8, 2, 200), True)
    """
    n_cases = check_int(n_cases, "n_cases", minimum=1)
    n_timepoints = check_int(n_timepoints, "n_timepoints", minimum=80)
    n_channels = check_int(n_channels, "n_channels", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    y = balanced_classes(rng, n_cases, 4)
    X = narma(rng, (n_cases, n_channels), n_timepoints) + rng.standard_normal(
        (n_cases, n_channels, n_timepoints)
    )
    mask = np.zeros(X.shape, dtype=bool)
    for i, code in enumerate(y):
        channel = 0 if code in (0, 1) else 1
        location = -1.5 if code in (0, 2) else 1.5
        length = int(rng.integers(10, 20))
        start = int(rng.integers(20, n_timepoints - 40))
        X[i, channel, start : start + length] = rng.normal(location, 0.1, size=length)
        mask[i, channel, start : start + length] = True
    return Dataset(
        X=X.astype(np.float32),
        y=y,
        mask=mask,
        class_names=("channel 0, low", "channel 0, high", "channel 1, low", "channel 1, high"),
        channel_names=tuple(f"sensor_{c}" for c in range(n_channels)),
        name="LowVar (TimeX)",
    )
