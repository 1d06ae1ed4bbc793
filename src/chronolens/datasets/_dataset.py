"""The :class:`Dataset` container returned by every loader and generator."""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _names(value: Sequence[str], field: str, expected: int | None, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(
            f"`{field}` must be a sequence of strings, one per {what}; got "
            f"{type(value).__name__}. Pass a tuple such as ('a', 'b')."
        )
    names = tuple(str(v) for v in value)
    if expected is not None and len(names) != expected:
        raise ValueError(
            f"`{field}` must hold one name per {what} ({expected}); got {len(names)} names. "
            f"Pass exactly {expected} names."
        )
    return names


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Series, labels and (for synthetic data) the ground-truth mask of what decides the label.

    A ``Dataset`` unpacks like a tuple. The rule: ``X`` and ``y`` always come out, and ``mask``
    comes out as a third item only when it is set. So a real data set, which has no mask,
    unpacks into two names and a synthetic one, which has a mask, into three::

        X, y = load_basic_motions()
        X, y, mask = make_sensor_events()

    ``len(data)`` is the number of cases, and indexing selects cases: ``data[i]`` (an int),
    ``data[a:b]`` (a slice), ``data[[0, 4, 7]]`` (integer indices) or ``data[keep]`` (a boolean
    array of one value per case) return a ``Dataset`` of those cases with the same names, the
    same as :meth:`subset`. An int gives a one-case ``Dataset`` (``X`` of shape
    ``(1, n_channels, n_timepoints)``), so the result is always a ``Dataset`` and unpacks as
    above. Indexing never selects channels or time points: index ``data.X`` for those.

    Parameters
    ----------
    X : numpy.ndarray
        Series of shape (n_cases, n_channels, n_timepoints); stored as float32.
    y : numpy.ndarray
        Integer class codes of shape (n_cases,), in ``range(len(class_names))``; stored as int64.
    mask : numpy.ndarray or None
        Boolean array of the same shape as ``X``, True exactly where the class-defining
        signal lies, or None when it is not known (real data).
    class_names : tuple of str
        Name of each class code: ``class_names[y[i]]`` is the class of case ``i``.
    channel_names : tuple of str
        Name of each channel, ``n_channels`` of them.
    name : str
        Human-readable name of the data set.
    step_labels : numpy.ndarray or None, default=None
        For online tasks, where a label is drawn at every time point (the HMM data sets
        :func:`~chronolens.datasets.make_state` and
        :func:`~chronolens.datasets.make_switch_feature`): integer codes of shape
        (n_cases, n_timepoints); ``y`` is then the label at the last time point. None for
        whole-series tasks. It is not unpacked: read it as ``data.step_labels``.

    Examples
    --------
    >>> from chronolens.datasets import make_sensor_events
    >>> data = make_sensor_events(8, seed=1)
    >>> len(data), data.X.shape
    (8, (8, 9, 300))
    >>> X, y, mask = data
    >>> first, last_two = data[0], data[-2:]
    >>> len(first), first.X.shape, len(last_two)
    (1, (1, 9, 300), 2)
    """

    X: np.ndarray
    y: np.ndarray
    mask: np.ndarray | None
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    name: str
    step_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        X = np.asarray(self.X)
        if X.ndim != 3:
            raise ValueError(
                f"`X` must have shape (n_cases, n_channels, n_timepoints); got an array of shape "
                f"{X.shape}. Use chronolens.as_series to convert it."
            )
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise TypeError(f"`X` must hold numbers; got dtype {X.dtype}. Convert it to float32.")
        X = X.astype(np.float32, copy=False)
        y = np.asarray(self.y)
        if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"`y` must be an integer array of shape ({X.shape[0]},), one code per case; got "
                f"dtype {y.dtype} and shape {y.shape}. Encode labels as integers 0..n_classes-1."
            )
        y = y.astype(np.int64, copy=False)
        mask = self.mask
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != X.shape or mask.dtype != bool:
                raise ValueError(
                    f"`mask` must be a boolean array of the same shape as `X` {X.shape}; got "
                    f"dtype {mask.dtype} and shape {mask.shape}. Pass None when it is unknown."
                )
        class_names = _names(self.class_names, "class_names", None, "class")
        if len(class_names) == 0 or (y.size and (y.min() < 0 or y.max() >= len(class_names))):
            raise ValueError(
                f"`y` must hold codes in range(len(class_names)) = range({len(class_names)}); "
                f"got values from {y.min() if y.size else None} to {y.max() if y.size else None}. "
                "Pass one name per class code."
            )
        channel_names = _names(self.channel_names, "channel_names", X.shape[1], "channel")
        if not isinstance(self.name, str):
            raise TypeError(f"`name` must be a string; got {type(self.name).__name__}.")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "class_names", class_names)
        object.__setattr__(self, "channel_names", channel_names)
        object.__setattr__(self, "step_labels", _step_labels(self.step_labels, X, class_names))

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield ``X`` and ``y``, then ``mask`` only when it is not None."""
        yield self.X
        yield self.y
        if self.mask is not None:
            yield self.mask

    def __len__(self) -> int:
        """Return the number of cases."""
        return int(self.X.shape[0])

    def __getitem__(self, index: Any) -> Dataset:
        """Return the cases selected by an int, a slice, integer indices or a boolean array."""
        return self.subset(_case_index(index, len(self)))

    def __repr__(self) -> str:
        n, c, t = self.X.shape
        steps = "" if self.step_labels is None else ", a label per time point (step_labels)"
        return (
            f"Dataset({self.name!r}: {n} cases x {c} channels x {t} timepoints, "
            f"{len(self.class_names)} classes, mask={'yes' if self.mask is not None else 'no'}"
            f"{steps})"
        )

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)

    def subset(self, index: slice | np.ndarray | list[int]) -> Dataset:
        """Return the cases selected by ``index`` (a slice, indices or a boolean array).

        Examples
        --------
        >>> from chronolens.datasets import make_sensor_events
        >>> data = make_sensor_events(20, seed=0)
        >>> train, test = data.subset(slice(0, 15)), data.subset(slice(15, None))
        >>> len(train), len(test)
        (15, 5)
        """
        return Dataset(
            X=self.X[index],
            y=self.y[index],
            mask=None if self.mask is None else self.mask[index],
            class_names=self.class_names,
            channel_names=self.channel_names,
            name=self.name,
            step_labels=None if self.step_labels is None else self.step_labels[index],
        )


def _step_labels(
    value: np.ndarray | None, X: np.ndarray, class_names: tuple[str, ...]
) -> np.ndarray | None:
    """Check per-time-point labels: integer codes of shape (n_cases, n_timepoints)."""
    if value is None:
        return None
    labels = np.asarray(value)
    if labels.shape != (X.shape[0], X.shape[2]) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"`step_labels` must be an integer array of shape {(X.shape[0], X.shape[2])}, one "
            f"code per case and time point; got dtype {labels.dtype} and shape {labels.shape}. "
            "Pass None for a whole-series task."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(
            f"`step_labels` must hold codes in range({len(class_names)}); got values from "
            f"{labels.min()} to {labels.max()}."
        )
    return labels.astype(np.int64, copy=False)


def _case_index(index: Any, n_cases: int) -> slice | np.ndarray:
    """Check an index over cases; an int becomes a one-element integer array."""
    if isinstance(index, slice):
        return index
    if isinstance(index, numbers.Integral) and not isinstance(index, bool | np.bool_):
        position = int(index)
        if not -n_cases <= position < n_cases:
            raise IndexError(f"case {position} is out of range for a Dataset of {n_cases} cases.")
        return np.array([position])
    if isinstance(index, str | bytes | tuple | bool | np.bool_ | dict | set) or index is None:
        raise TypeError(
            "A Dataset is indexed by cases only: an int, a slice, integer indices or a boolean "
            f"array of one value per case; got {type(index).__name__}. Index `data.X` to select "
            "channels or time points."
        )
    array = np.asarray(index)
    if array.size == 0:
        array = array.astype(np.int64)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        raise TypeError(
            "A Dataset is indexed by cases only: an int, a slice, integer indices or a boolean "
            f"array of one value per case; got an array of dtype {array.dtype} and shape "
            f"{array.shape}."
        )
    if array.dtype == bool and len(array) != n_cases:
        raise IndexError(
            f"A boolean index must hold one value per case ({n_cases}); got {len(array)}."
        )
    return array
