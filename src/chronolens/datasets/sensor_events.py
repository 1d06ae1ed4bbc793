"""Synthetic multivariate sensor series whose class is decided by planted events."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from chronolens.datasets._dataset import Dataset

_SHAPES = ("bump", "sine", "square", "saw")
_EVENT_FRACTION = 0.1  # event length as a fraction of n_timepoints
_MIN_TIMEPOINTS = 100
_AMPLITUDE = 2.5  # mean amplitude of every event (the shapes have root mean square 1)
_SCALE_SIGMA = 0.5  # log-normal spread of the per-case, per-channel background scale


@dataclass(frozen=True)
class _ClassSpec:
    shape: str
    channels: tuple[int, ...]
    window: tuple[float, float]  # allowed span of the event, as fractions of n_timepoints

    @property
    def shape_index(self) -> int:
        return _SHAPES.index(self.shape)

    @property
    def name(self) -> str:
        return f"{self.shape}@" + "+".join(f"ch{c}" for c in self.channels)


_CLASSES = (
    _ClassSpec("bump", (0,), (0.05, 0.45)),
    _ClassSpec("sine", (2,), (0.30, 0.70)),
    _ClassSpec("square", (4,), (0.55, 0.95)),
    _ClassSpec("saw", (6, 7), (0.20, 0.80)),
)


def _templates(length: int) -> np.ndarray:
    """Return the four event shapes, shape (4, length), each with root mean square 1."""
    t = (np.arange(length) + 0.5) / length
    bump = np.exp(-0.5 * ((t - 0.5) / 0.12) ** 2)
    sine = np.sin(2 * np.pi * 3 * t) * np.sin(np.pi * t) ** 2
    square = ((t >= 0.2) & (t < 0.8)).astype(float)
    saw = np.where(t < 0.5, t / 0.5, (t - 0.5) / 0.5)
    shapes = np.stack([bump, sine, square, saw])
    return shapes / np.sqrt((shapes**2).mean(axis=1, keepdims=True))


def _window_starts(spec: _ClassSpec, n_timepoints: int, length: int) -> tuple[int, int]:
    """Return the first and last allowed start of ``spec``'s event (inclusive)."""
    lo = round(spec.window[0] * n_timepoints)
    hi = round(spec.window[1] * n_timepoints)
    return lo, hi - length


def _background(
    rng: np.random.Generator, n_cases: int, n_channels: int, n_timepoints: int, length: int
) -> np.ndarray:
    """Smooth random background plus white noise, shape (n, c, t), before scaling by noise."""
    shape = (n_cases, n_channels)
    t = np.arange(n_timepoints, dtype=float)
    out = rng.normal(0.0, 1.0, size=shape)[..., None] * np.ones(n_timepoints)
    for _ in range(2):  # slow sinusoids with random period, phase and amplitude
        period = rng.uniform(0.3, 2.0, size=shape)[..., None] * n_timepoints
        phase = rng.uniform(0.0, 2 * np.pi, size=shape)[..., None]
        amplitude = rng.uniform(0.2, 0.8, size=shape)[..., None]
        out += amplitude * np.sin(2 * np.pi * t / period + phase)
    # AR(1) with correlation time of a fifth of an event and stationary std 0.5 (time-major)
    phi = np.exp(-5.0 / length)
    ar = rng.normal(0.0, 0.5 * np.sqrt(1 - phi**2), size=(n_timepoints, *shape))
    ar[0] = rng.normal(0.0, 0.5, size=shape)
    for i in range(1, n_timepoints):
        ar[i] += phi * ar[i - 1]
    ar = np.moveaxis(ar, 0, -1)
    out += ar
    out += rng.normal(0.0, 0.25, size=out.shape)
    return out * np.exp(rng.normal(0.0, _SCALE_SIGMA, size=shape))[..., None]


def _generate(
    n_cases: int,
    n_channels: int,
    n_timepoints: int,
    n_classes: int,
    noise: float,
    amplitude: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``X``, ``y``, ``mask`` and ``X`` without the class-defining events."""
    specs = _CLASSES[:n_classes]
    length = round(_EVENT_FRACTION * n_timepoints)
    templates = _templates(length)
    y = rng.permutation(np.arange(n_cases) % n_classes).astype(np.int64)
    rest = noise * _background(rng, n_cases, n_channels, n_timepoints, length)
    events = np.zeros_like(rest)
    mask = np.zeros(rest.shape, dtype=bool)

    # Distractors must never form a class-defining event. A class shape is banned from the
    # class channel; for a class defined on several channels, the shape may appear in one of
    # them only at least one event length away from the same shape in the others.
    rules: dict[tuple[int, int], tuple[int, ...] | None] = {}
    for spec in specs:
        for channel in spec.channels:
            others = tuple(c for c in spec.channels if c != channel)
            rules[(spec.shape_index, channel)] = others or None

    n_distractors = rng.integers(n_channels, 2 * n_channels + 1, size=n_cases).tolist()
    starts = [
        int(rng.integers(lo, hi + 1))
        for lo, hi in (_window_starts(specs[k], n_timepoints, length) for k in y.tolist())
    ]
    scales = (amplitude * rng.uniform(0.8, 1.2, size=n_cases)).tolist()
    # Candidate distractors, drawn in bulk and tried in order: channel, shape, start, amplitude.
    n_candidates = 2 * n_channels * 4
    cand_channel = rng.integers(n_channels, size=(n_cases, n_candidates)).tolist()
    cand_shape = rng.integers(len(_SHAPES), size=(n_cases, n_candidates)).tolist()
    cand_begin = rng.integers(0, n_timepoints - length + 1, size=(n_cases, n_candidates)).tolist()
    cand_scale = (amplitude * rng.uniform(0.8, 1.2, size=(n_cases, n_candidates))).tolist()
    for i in range(n_cases):
        spec = specs[y[i]]
        start = starts[i]
        occupied: list[list[tuple[int, int, int]]] = [[] for _ in range(n_channels)]
        for channel in spec.channels:
            events[i, channel, start : start + length] = scales[i] * templates[spec.shape_index]
            mask[i, channel, start : start + length] = True
            occupied[channel].append((start, start + length, spec.shape_index))
        placed = 0
        for channel, shape, begin, scale in zip(
            cand_channel[i], cand_shape[i], cand_begin[i], cand_scale[i], strict=True
        ):
            if placed == n_distractors[i]:
                break
            end = begin + length
            if any(begin < b and a < end for a, b, _ in occupied[channel]):
                continue  # overlaps an event in the same channel
            if (shape, channel) in rules:
                partners = rules[(shape, channel)]
                if partners is None or any(
                    kind == shape and begin - length < b and a < end + length
                    for partner in partners
                    for a, b, kind in occupied[partner]
                ):
                    continue  # would look like a class-defining event
            rest[i, channel, begin:end] += scale * templates[shape]
            occupied[channel].append((begin, end, shape))
            placed += 1
    X = (rest + events).astype(np.float32)
    return X, y, mask, rest.astype(np.float32)


def _check_int(value: object, name: str, minimum: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer; got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}; got {value}. {fix}")
    return int(value)


def make_sensor_events(
    n_cases: int = 400,
    *,
    n_channels: int = 9,
    n_timepoints: int = 300,
    n_classes: int = 4,
    noise: float = 1.0,
    seed: int | np.random.Generator | None = 0,
) -> Dataset:
    """Make synthetic sensor series whose class is decided by one planted event.

    Every series holds a random background, several distractor events and exactly one
    class-defining event. The returned ``mask`` is True exactly on the class-defining event
    (its channel or channels, over its time span), so it is the ground truth for what an
    attribution method should highlight. The data set unpacks as ``X, y, mask = ...``.

    Parameters
    ----------
    n_cases : int, default=400
        Number of series; at least ``n_classes``. The classes are balanced: ``y`` is
        ``arange(n_cases) % n_classes`` shuffled.
    n_channels : int, default=9
        Number of channels; at least one more than the highest channel used by a class
        (8 for 4 classes, 5 for 3, 3 for 2).
    n_timepoints : int, default=300
        Series length; at least 100. Events and windows scale with it.
    n_classes : int, default=4
        Number of classes, 2 to 4; the first ``n_classes`` rows of the table below.
    noise : float, default=1.0
        Factor on the background (smooth part and white noise); the events keep their
        amplitude. 0 gives the events on a flat zero line; larger values make the task harder.
    seed : int, numpy.random.Generator or None, default=0
        Seed of the NumPy random generator; the same seed gives the same data.

    Returns
    -------
    Dataset
        ``X`` float32 (n_cases, n_channels, n_timepoints), ``y`` int64, ``mask`` bool of the
        shape of ``X``, ``class_names`` as in the table below and ``channel_names``
        ``("sensor_0", "sensor_1", ...)``.

    Raises
    ------
    ValueError
        If an argument is out of range (the message says which, and the smallest valid value).
    TypeError
        If an argument has the wrong type.

    Notes
    -----
    Write ``T = n_timepoints``; every event lasts ``L = round(0.1 * T)`` points (30 for the
    default 300). Class ``k`` is decided by one event of a given shape in given channel(s),
    lying entirely inside a class window; its start is uniform over the window, so its
    position varies from case to case:

    =====  ===============  ==================  ===================  ======================
    class  name             shape               channel(s)           window (fraction of T)
    =====  ===============  ==================  ===================  ======================
    0      ``bump@ch0``     Gaussian bump       0                    [0.05, 0.45]
    1      ``sine@ch2``     sine burst          2                    [0.30, 0.70]
    2      ``square@ch4``   square pulse        4                    [0.55, 0.95]
    3      ``saw@ch6+ch7``  two-tooth sawtooth  6 and 7, same times  [0.20, 0.80]
    =====  ===============  ==================  ===================  ======================

    For ``T = 300`` the windows are points [15, 135), [90, 210), [165, 285) and [60, 240).
    ``mask[i]`` is True on ``[start, start + L)`` in the channel(s) of class ``y[i]`` and
    False everywhere else. With the default 9 channels, channels 1, 3, 5 and 8 never carry a
    class-defining event.

    *Shapes*, each rescaled to a root mean square of 1 over its ``L`` points (so all have the
    same energy) and multiplied by a random amplitude in [2.0, 3.0]: *bump*, a Gaussian of
    standard deviation ``0.12 L`` centred in the span; *sine*, three periods of a sine under a
    Hann window; *square*, a constant level over the middle 60 % of the span; *saw*, two
    ramps rising from 0, each half the span long, each ending in a sharp drop.

    *Background*, per case and channel: a random offset (standard normal), two slow
    sinusoids (period 0.3 T to 2 T, random phase, amplitude 0.2 to 0.8), an AR(1) process of
    correlation time ``L / 5`` and standard deviation 0.5, and white noise of standard
    deviation 0.25; the sum is multiplied by a random gain (log-normal, sigma 0.5) and by
    ``noise``.

    *Distractors*: ``n_channels`` to ``2 * n_channels`` events per case with the same shapes
    and amplitudes as the class events, in uniformly random channels (class channels
    included) at uniformly random times, never overlapping another event of the same
    channel. They are drawn independently of the class and never form a class-defining
    event: the shape of a class never appears in its channel except as that class's event
    (a bump never in channel 0, a sine never in channel 2, a square never in channel 4), and
    a sawtooth may appear in channel 6 or 7 but never within ``L`` points of a sawtooth in
    the other. So all events have the same energy, every channel carries distractors and
    every shape appears in many channels: the class is told by *which shape sits in which
    channel* (for class 3, in both channels at once), not by a channel's level, spread or
    event count. With the class event removed a series carries almost no information on its
    class (the only trace: no distractor overlaps the class event in its own channel).
    Because the class shape never appears elsewhere in its channel, a model blind to
    position (e.g. one with global pooling, as CAM needs) can solve the task; the window
    only bounds where the event, and so the mask, lies.

    As a guide to difficulty, with the defaults: a matched filter that knows this table
    labels about 98 % of cases correctly, while a classifier on the per-channel mean and
    standard deviation gets about 30-37 % (chance is 25 %).

    Examples
    --------
    >>> from chronolens.datasets import make_sensor_events
    >>> X, y, mask = make_sensor_events(40, seed=0)
    >>> X.shape, mask.shape, X.dtype, y.dtype
    ((40, 9, 300), (40, 9, 300), dtype('float32'), dtype('int64'))
    >>> bool(mask[y == 1][:, 2].any(axis=1).all())  # class 1: the event is in channel 2
    True
    >>> make_sensor_events().class_names
    ('bump@ch0', 'sine@ch2', 'square@ch4', 'saw@ch6+ch7')
    """
    return _sensor_events(
        n_cases,
        n_channels=n_channels,
        n_timepoints=n_timepoints,
        n_classes=n_classes,
        noise=noise,
        seed=seed,
    )[0]


def _sensor_events(
    n_cases: int,
    *,
    n_channels: int,
    n_timepoints: int,
    n_classes: int,
    noise: float,
    seed: int | np.random.Generator | None,
) -> tuple[Dataset, np.ndarray]:
    """Check the arguments of :func:`make_sensor_events`; also return ``X`` minus its class event.

    The second array is the series with the class-defining event left out (background and
    distractors only), for tests that the masked event carries all the class information.
    """
    n_classes = _check_int(n_classes, "n_classes", 2, "Use 2, 3 or 4 classes.")
    if n_classes > len(_CLASSES):
        raise ValueError(
            f"`n_classes` must be at most {len(_CLASSES)}; got {n_classes}. "
            f"Use 2 to {len(_CLASSES)} classes."
        )
    n_cases = _check_int(
        n_cases, "n_cases", n_classes, "Ask for at least one case per class (`n_classes`)."
    )
    needed = max(max(spec.channels) for spec in _CLASSES[:n_classes]) + 1
    n_channels = _check_int(
        n_channels,
        "n_channels",
        needed,
        f"With n_classes={n_classes} the class events use channels up to {needed - 1}.",
    )
    n_timepoints = _check_int(
        n_timepoints,
        "n_timepoints",
        _MIN_TIMEPOINTS,
        "Shorter series cannot hold the class windows and the events with enough resolution.",
    )
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"`noise` must be a number; got {noise!r} ({type(noise).__name__}).")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"`noise` must be a finite number >= 0; got {noise}. Use e.g. 1.0.")
    if not (seed is None or isinstance(seed, np.random.Generator)) and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
    ):
        raise TypeError(
            f"`seed` must be an int, a numpy.random.Generator or None; got {seed!r} "
            f"({type(seed).__name__})."
        )
    rng = np.random.default_rng(seed)
    X, y, mask, rest = _generate(
        n_cases, n_channels, n_timepoints, n_classes, float(noise), _AMPLITUDE, rng
    )
    dataset = Dataset(
        X=X,
        y=y,
        mask=mask,
        class_names=tuple(spec.name for spec in _CLASSES[:n_classes]),
        channel_names=tuple(f"sensor_{c}" for c in range(n_channels)),
        name="sensor_events",
    )
    return dataset, rest
