"""The box data sets of Ismail et al. (2020): a N(+-1, 1) box on Gaussian noise."""

from __future__ import annotations

import numpy as np

from chronolens._validation import check_choice, check_int
from chronolens.datasets._dataset import Dataset

#: kind -> (feature span, time span) of the box, as fractions of the axes.
_BOXES = {
    "Middle": ((0.25, 0.75), (0.25, 0.75)),
    "SmallMiddle": ((0.375, 0.625), (0.375, 0.625)),
    "RareTime": ((0.1, 0.9), (0.45, 0.55)),
    "RareFeature": ((0.45, 0.55), (0.1, 0.9)),
}
BOX_KINDS = tuple(_BOXES) + tuple(f"Moving{k}" for k in _BOXES)


def _span(fraction: tuple[float, float], size: int) -> tuple[int, int]:
    start = round(fraction[0] * size)
    return start, max(start + 1, round(fraction[1] * size))


def make_box(
    kind: str = "Middle",
    n_cases: int = 1000,
    *,
    n_channels: int = 50,
    n_timepoints: int = 50,
    seed: int = 0,
) -> Dataset:
    """Make one of Ismail et al.'s box data sets: the class is the sign of a box's mean.

    Every point is standard Gaussian noise except inside a box of (channels x time points),
    where it is drawn from N(+1, 1) for class 1 and N(-1, 1) for class 0. ``mask`` is the box.

    Parameters
    ----------
    kind : str, default="Middle"
        ``"Middle"``, ``"SmallMiddle"``, ``"RareTime"``, ``"RareFeature"``, or one of them
        prefixed with ``"Moving"`` (the box moves in time from case to case).
    n_cases : int, default=1000
    n_channels, n_timepoints : int, default=50
        The paper's 50 features x 50 time steps.
    seed : int, default=0

    Returns
    -------
    Dataset
        Unpacks as ``X, y, mask``; classes ("negative", "positive") are balanced.

    Notes
    -----
    Box geometry, as fractions of (channels, time): Middle [.25, .75) x [.25, .75);
    SmallMiddle [.375, .625) x [.375, .625); RareTime (few informative time steps in many
    channels) [.1, .9) x [.45, .55); RareFeature (few informative channels over most of the
    time) [.45, .55) x [.1, .9). Moving variants keep the box's size and channels and draw its
    start in time uniformly per case. The geometry follows the paper's description; it is not
    the authors' code.

    References
    ----------
    Ismail, Gunady, Corrada Bravo, Feizi (2020). Benchmarking deep learning interpretability in
    time series predictions. NeurIPS.

    Examples
    --------
    >>> from chronolens.datasets import make_box
    >>> X, y, mask = make_box("MovingRareTime", 10)
    >>> X.shape
    (10, 50, 50)
    """
    check_choice(kind, "kind", BOX_KINDS)
    n_cases = check_int(n_cases, "n_cases", minimum=2)
    n_channels = check_int(n_channels, "n_channels", minimum=2)
    n_timepoints = check_int(n_timepoints, "n_timepoints", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    moving = kind.startswith("Moving")
    features, times = _BOXES[kind.removeprefix("Moving")]
    c0, c1 = _span(features, n_channels)
    t0, t1 = _span(times, n_timepoints)
    width = t1 - t0
    y = rng.permutation(np.arange(n_cases) % 2).astype(np.int64)
    X = rng.standard_normal((n_cases, n_channels, n_timepoints))
    starts = rng.integers(0, n_timepoints - width + 1, size=n_cases) if moving else None
    mask = np.zeros(X.shape, dtype=bool)
    for i in range(n_cases):
        start = t0 if starts is None else int(starts[i])
        mask[i, c0:c1, start : start + width] = True
    X[mask] += np.repeat(np.where(y == 1, 1.0, -1.0), mask.reshape(n_cases, -1).sum(axis=1))
    return Dataset(
        X=X.astype(np.float32),
        y=y,
        mask=mask,
        class_names=("negative", "positive"),
        channel_names=tuple(f"feature_{i}" for i in range(n_channels)),
        name=f"{kind} box (Ismail et al. 2020)",
    )
