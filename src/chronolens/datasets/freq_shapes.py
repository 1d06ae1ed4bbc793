"""FreqShapes (Queen et al. 2023, TimeX): the class is a spike's shape and its period."""

from __future__ import annotations

import numpy as np

from chronolens._validation import check_float, check_int
from chronolens.datasets._dataset import Dataset

#: class code -> (upward spike?, period between spikes), as TimeX's generator defines them.
_CLASSES = {0: (False, 10), 1: (True, 10), 2: (False, 17), 3: (True, 17)}
_SPIKE = -0.25 * np.arange(-1, 2) ** 2 + 2  # the upward spike (1.75, 2, 1.75); downward: minus


def balanced_classes(rng: np.random.Generator, n_cases: int, n_classes: int) -> np.ndarray:
    """``n_cases // n_classes`` cases per class, the remainder in the last, in random order."""
    counts = [n_cases // n_classes] * (n_classes - 1)
    counts.append(n_cases - sum(counts))
    return rng.permutation(np.repeat(np.arange(n_classes), counts)).astype(np.int64)


def make_freq_shapes(
    n_cases: int = 1000, *, n_timepoints: int = 50, noise: float = 0.25, seed: int = 0
) -> Dataset:
    """Make the FreqShapes data: upward or downward spikes every 10 or 17 points, in noise.

    Each series is ``N(0, noise)`` noise plus a train of three-point spikes, upward
    (1.75, 2, 1.75) or downward (the negatives), centred every ``period`` points from a start
    drawn uniformly in ``[0, n_timepoints - period)``; spikes that would cross either end are
    left out. Class = (downward, 10), (upward, 10), (downward, 17), (upward, 17).

    Parameters
    ----------
    n_cases : int, default=1000
        TimeX trains on 5,000 and tests on 1,000.
    n_timepoints : int, default=50
        TimeX's length.
    noise : float, default=0.25
        Standard deviation of the Gaussian noise.
    seed : int, default=0

    Returns
    -------
    Dataset
        One channel; ``mask`` is True on the spikes' points. Classes are balanced (the
        remainder goes to the last) and shuffled.

    References
    ----------
    Queen, Hartvigsen, Koker, He, Tsiligkaridis, Zitnik (2023). Encoding time-series
    explanations through self-supervised model behavior consistency. NeurIPS (TimeX).

    Examples
    --------
    >>> from chronolens.datasets import make_freq_shapes
    >>> X, y, mask = make_freq_shapes(8)
    >>> X.shape, sorted(set(y.tolist()))
    ((8, 1, 50), [0, 1, 2, 3])
    """
    n_cases = check_int(n_cases, "n_cases", minimum=1)
    n_timepoints = check_int(n_timepoints, "n_timepoints", minimum=20)
    noise = check_float(noise, "noise", minimum=0.0)
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    y = balanced_classes(rng, n_cases, 4)
    X = np.zeros((n_cases, 1, n_timepoints))
    mask = np.zeros(X.shape, dtype=bool)
    for i, code in enumerate(y):
        upward, period = _CLASSES[int(code)]
        start = int(rng.integers(0, n_timepoints - period))
        for centre in range(start, n_timepoints, period):
            if centre - 1 >= 0 and centre + 2 <= n_timepoints:
                X[i, 0, centre - 1 : centre + 2] = _SPIKE if upward else -_SPIKE
                mask[i, 0, centre - 1 : centre + 2] = True
    X += rng.normal(0.0, noise, size=X.shape)
    return Dataset(
        X=X.astype(np.float32),
        y=y,
        mask=mask,
        class_names=("down, period 10", "up, period 10", "down, period 17", "up, period 17"),
        channel_names=("signal",),
        name="FreqShapes (TimeX)",
    )
