"""The dCAM paper's synthetic protocol (Boniol et al., 2022), with patterns from BasicMotions."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chronolens._deprecation import renamed_keyword
from chronolens._validation import check_int, suggestion
from chronolens.datasets._dataset import Dataset
from chronolens.datasets.basic_motions import load_basic_motions

_PATTERN_LENGTH = 40
_KINDS = ("type1", "type2")


def _check_kind(kind: Any) -> int:
    """Return 1 or 2 for ``kind`` "type1" / "type2" (or, deprecated, the int 1 / 2)."""
    if not isinstance(kind, (bool, str)) and kind in (1, 2):
        warnings.warn(
            f"make_dcam(kind={kind!r}) is deprecated and will be removed in the next release; "
            f'use kind="type{int(kind)}" instead.',
            DeprecationWarning,
            stacklevel=4,  # _check_kind <- make_dcam <- _renamed_keyword's wrapper <- caller
        )
        return int(kind)
    if not isinstance(kind, str) or kind not in _KINDS:
        hint = suggestion(kind, _KINDS) if isinstance(kind, str) else ""
        raise ValueError(
            '`kind` must be "type1" (which pattern is present) or "type2" (whether two patterns '
            f"co-occur); got {kind!r}.{hint}"
        )
    return 1 if kind == "type1" else 2


def dcam_patterns(length: int = _PATTERN_LENGTH) -> np.ndarray:
    """The four pattern shapes, shape (4, length): one per BasicMotions class.

    Pattern ``k`` is the first ``length`` points of the accelerometer-x channel of the first
    training case of class ``k`` (Standing, Running, Walking, Badminton), z-normalised.
    """
    data = load_basic_motions("train")
    shapes = []
    for k in range(4):
        series = data.X[int(np.flatnonzero(data.y == k)[0]), 0, :length].astype(np.float64)
        shapes.append((series - series.mean()) / max(series.std(), 1e-8))
    return np.stack(shapes)


@renamed_keyword("n_dims", "n_channels")
def make_dcam(
    kind: str = "type1",
    n_channels: int = 10,
    n_cases: int = 500,
    *,
    n_timepoints: int = 200,
    n_classes: int = 2,
    pattern_length: int = _PATTERN_LENGTH,
    amplitude: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """Make a dCAM Type 1 or Type 2 data set (protocol-matched, patterns from BasicMotions).

    Type 1, *which pattern is present*: class ``k`` has pattern ``k`` injected into one random
    channel at a random time. Type 2, *whether patterns co-occur*: every case has pattern 0
    in one channel and pattern 1 in another; in class 1 they start at the same time, in
    class 0 at times at least one pattern length apart, so only the joint timing across
    channels tells the classes apart. ``mask`` is True on the injected patterns.

    Parameters
    ----------
    kind : {"type1", "type2"}, default="type1"
        The ints ``1`` and ``2`` are accepted for one more release, with a DeprecationWarning.
    n_channels : int, default=10
        Number of channels (the paper's "dimensions"), at least 2. ``n_dims=`` is its
        deprecated spelling, accepted for one more release with a DeprecationWarning.
    n_cases : int, default=500
    n_timepoints : int, default=200
        At least ``3 * pattern_length``.
    n_classes : int, default=2
        Type 1 only: 2 to 4 patterns/classes (Type 2 always has 2 classes).
    pattern_length : int, default=40
        At most 100 (the BasicMotions series length).
    amplitude : float, default=1.0
        Factor on the z-normalised patterns; the background is standard Gaussian noise. At 1
        the task is hard: on 10 channels and 1,000 training cases an FCN and a small d-CNN
        stay below 0.70 test accuracy on Type 1; at 3 both learn Type 1 (0.99 - 1.00) and the
        d-CNN Type 2 (about 0.9), see ``benchmarks/quality.py``.
    seed : int, default=0

    Returns
    -------
    Dataset
        Unpacks as ``X, y, mask``; balanced classes.

    Notes
    -----
    The dCAM paper injects patterns taken from UCR data sets that are not bundled here; these
    data sets follow its protocol with patterns taken from BasicMotions (see
    :func:`dcam_patterns`), so the numbers are "protocol-matched", not the paper's. A pattern
    replaces the background where it is injected.

    References
    ----------
    Boniol, Meftah, Remy, Palpanas (2022). dCAM: Dimension-wise class activation map for
    explaining multivariate data series classification. SIGMOD.

    Examples
    --------
    >>> from chronolens.datasets import make_dcam
    >>> X, y, mask = make_dcam("type2", n_channels=6, n_cases=8)
    >>> X.shape
    (8, 6, 200)
    """
    number = _check_kind(kind)
    n_channels = check_int(n_channels, "n_channels", minimum=2)
    n_cases = check_int(n_cases, "n_cases", minimum=2)
    pattern_length = check_int(pattern_length, "pattern_length", minimum=2, maximum=100)
    n_timepoints = check_int(n_timepoints, "n_timepoints", minimum=3 * pattern_length)
    n_classes = check_int(n_classes, "n_classes", minimum=2, maximum=4) if number == 1 else 2
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    patterns = amplitude * dcam_patterns(pattern_length)
    y = rng.permutation(np.arange(n_cases) % n_classes).astype(np.int64)
    X = rng.standard_normal((n_cases, n_channels, n_timepoints))
    mask = np.zeros(X.shape, dtype=bool)
    channels = np.argsort(rng.random((n_cases, n_channels)), axis=1)[:, :2]
    for i in range(n_cases):
        for channel, start, pattern in _placements(
            number, y[i], channels[i], rng, n_timepoints, pattern_length
        ):
            X[i, channel, start : start + pattern_length] = patterns[pattern]
            mask[i, channel, start : start + pattern_length] = True
    names = ("Standing", "Running", "Walking", "Badminton")
    class_names = names[:n_classes] if number == 1 else ("apart", "together")
    return Dataset(
        X=X.astype(np.float32),
        y=y,
        mask=mask,
        class_names=tuple(f"pattern {name}" for name in class_names)
        if number == 1
        else class_names,
        channel_names=tuple(f"dim_{i}" for i in range(n_channels)),
        name=f"dCAM Type {number} (protocol-matched, BasicMotions patterns)",
    )


def _placements(
    number: int,
    label: int,
    channels: np.ndarray,
    rng: np.random.Generator,
    n_timepoints: int,
    length: int,
) -> list[tuple[int, int, int]]:
    """``(channel, start, pattern)`` of the patterns injected into one case of Type ``number``."""
    t = n_timepoints
    if number == 1:
        return [(int(channels[0]), int(rng.integers(0, t - length + 1)), int(label))]
    first = int(rng.integers(0, t - length + 1))
    if label == 1:
        second = first
    else:  # uniformly among starts that do not overlap the first pattern
        allowed = np.r_[0 : max(0, first - length + 1), first + length : t - length + 1]
        second = int(rng.choice(allowed))
    return [(int(channels[0]), first, 0), (int(channels[1]), second, 1)]
