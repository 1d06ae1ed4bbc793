"""The result of every method: a small frozen dataclass that plots, reports and metrics read."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from chronolens._lengths import check_lengths

_FORMAT = "chronolens.Explanation/1"


def _jsonable(value: Any) -> Any:
    """Return ``value`` as JSON-compatible data, or None if it cannot be."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_jsonable(v) for v in value]
        return items if all(i is not None or v is None for i, v in zip(items, value)) else None
    if isinstance(value, dict):
        mapping = {str(k): _jsonable(v) for k, v in value.items()}
        complete = all(i is not None or value[k] is None for k, i in mapping.items())
        return mapping if complete else None
    return None


@dataclass(frozen=True, eq=False)
class Explanation:
    """Attributions of a model's decision for a batch of series.

    Attributes
    ----------
    x : numpy.ndarray of shape (n_cases, n_channels, n_timepoints)
        The explained series, float32, in the chronolens layout whatever ``layout`` the user gave.
    attributions : numpy.ndarray of shape (n_cases, n_channels or 1, n_timepoints)
        The map, aligned sample for sample with ``x``. One row per channel when
        ``per_channel`` is True, a single row shared by every channel otherwise.
    target : numpy.ndarray of shape (n_cases,) or None
        The explained class of each case; None when the target was a callable.
    scores : numpy.ndarray of shape (n_cases, n_classes)
        The model output for ``x`` (for a callable target: the explained score, (n_cases, 1)).
    method : str
        Registered method name.
    params : dict
        The method's parameters as given (plus the layer for CAM methods).
    per_channel : bool
        Whether ``attributions`` has one row per channel.
    layout : {"ncl", "nlc"}
        The layout of the data the user passed.
    extras : dict
        Optional outputs of the method, documented per method: e.g. ``"layer"``,
        ``"convergence_delta"`` (Integrated Gradients), ``"layer_map"`` (CAM methods),
        ``"seed"`` (randomised methods).
    case_keys : tuple of str
        The keys of ``extras`` whose first axis is the case axis; sliced with the cases.
    channel_names, class_names : tuple of str or None
        Names used by plots and reports.
    lengths : numpy.ndarray of shape (n_cases,) or None
        For unequal-length data: how many time points of each case are real. ``x`` is padded
        at the end to the longest length and ``attributions`` are NaN on the padding. None for
        equal-length data.
    """

    x: np.ndarray
    attributions: np.ndarray
    target: np.ndarray | None
    scores: np.ndarray
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    per_channel: bool = True
    layout: str = "ncl"
    extras: dict[str, Any] = field(default_factory=dict)
    case_keys: tuple[str, ...] = ()
    channel_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    lengths: np.ndarray | None = None

    def __post_init__(self) -> None:
        if np.ndim(self.x) != 3 or np.ndim(self.attributions) != 3:
            raise ValueError(
                f"An Explanation needs x and attributions of shape (n_cases, channels, "
                f"n_timepoints); got shapes {np.shape(self.x)} and {np.shape(self.attributions)}."
            )
        n, c, t = self.x.shape
        if np.ndim(self.scores) != 2 or np.shape(self.scores)[0] != n:
            raise ValueError(
                f"`scores` must have one row per case, shape ({n}, n_outputs); got "
                f"{np.shape(self.scores)}."
            )
        if self.target is not None and np.shape(self.target) != (n,):
            raise ValueError(
                f"`target` must hold one class per case, shape ({n},); got {np.shape(self.target)}."
            )
        for key in self.case_keys:
            value = self.extras.get(key)
            if value is None or np.shape(np.asarray(value))[:1] != (n,):
                raise ValueError(
                    f"extras[{key!r}] is a per-case value but has shape "
                    f"{None if value is None else np.shape(np.asarray(value))}, not "
                    f"({n}, ...)."
                )
        expected_rows = c if self.per_channel else 1
        if self.attributions.shape != (n, expected_rows, t):
            raise ValueError(
                f"attributions of shape {self.attributions.shape} do not match x of shape "
                f"{self.x.shape} (expected {(n, expected_rows, t)} with "
                f"per_channel={self.per_channel})."
            )
        if self.channel_names is not None and len(self.channel_names) != c:
            raise ValueError(
                f"`channel_names` has {len(self.channel_names)} names for {c} channels."
            )
        if self.lengths is not None:
            object.__setattr__(self, "lengths", check_lengths(self.lengths, n, t))

    # ------------------------------------------------------------------ basics
    @property
    def n_cases(self) -> int:
        """Number of explained cases."""
        return int(self.x.shape[0])

    def __len__(self) -> int:
        return self.n_cases

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> Explanation:
        """Return the explanation of some cases: ``exp[3]``, ``exp[:10]``, ``exp[[0, 5]]``."""
        if isinstance(index, (int, np.integer)):
            if not -self.n_cases <= int(index) < self.n_cases:
                raise IndexError(f"case {index} is out of range for {self.n_cases} cases.")
            index = slice(int(index), int(index) + 1 or None)
        extras = dict(self.extras)
        for key in self.case_keys:
            extras[key] = np.asarray(self.extras[key])[index]
        return replace(
            self,
            x=self.x[index],
            attributions=self.attributions[index],
            target=None if self.target is None else self.target[index],
            scores=self.scores[index],
            extras=extras,
            lengths=None if self.lengths is None else self.lengths[index],
        )

    def by_length(self) -> list[tuple[np.ndarray, Explanation]]:
        """``(case indices, explanation)`` per distinct length, each cut to that length.

        The parts have ``lengths=None`` and no padding; equal-length data gives one part.
        """
        if self.lengths is None:
            return [(np.arange(self.n_cases), self)]
        parts = []
        for length in np.unique(self.lengths):
            index = np.flatnonzero(self.lengths == length)
            part = self[index]
            t = int(length)
            parts.append(
                (
                    index,
                    replace(
                        part,
                        x=part.x[:, :, :t],
                        attributions=part.attributions[:, :, :t],
                        lengths=None,
                    ),
                )
            )
        return parts

    def unpadded(self, case: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, attributions)`` of one case cut to its own length: (c, t_i) and (rows, t_i)."""
        if not -self.n_cases <= int(case) < self.n_cases:
            raise IndexError(f"case {case} is out of range for {self.n_cases} cases.")
        t = self.x.shape[2] if self.lengths is None else int(self.lengths[case])
        return self.x[case, :, :t], self.attributions[case, :, :t]

    def __repr__(self) -> str:
        n, c, t = self.x.shape
        shape = "per channel" if self.per_channel else "shared by all channels"
        layer = f", layer={self.extras['layer']!r}" if "layer" in self.extras else ""
        return (
            f"Explanation(method={self.method!r}{layer}, n_cases={n}, n_channels={c}, "
            f"n_timepoints={t}, attributions {self.attributions.shape} {shape})"
        )

    def channel_label(self, channel: int) -> str:
        """Name of a channel, or ``"channel i"``."""
        return self.channel_names[channel] if self.channel_names else f"channel {channel}"

    def class_label(self, klass: int) -> str:
        """Name of a class, or ``"class k"``."""
        if self.class_names and 0 <= klass < len(self.class_names):
            return self.class_names[klass]
        return f"class {klass}"

    def broadcast(self) -> np.ndarray:
        """Attributions of shape (n_cases, n_channels, n_timepoints): shared maps repeated."""
        return np.broadcast_to(self.attributions, self.x.shape).copy()

    # ------------------------------------------------------------------ views
    def plot(self, case: int = 0, **kwargs: Any) -> Any:
        """Plot one case: every channel with its attribution as a heat band.

        See :func:`chronolens.plot.plot_explanation` for the keyword arguments.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from chronolens.plot import plot_explanation

        return plot_explanation(self, case, **kwargs)

    def _repr_html_(self) -> str:
        from chronolens.plot._html_snippet import explanation_html

        return explanation_html(self)

    def to_xarray(self) -> Any:
        """Return an ``xarray.Dataset`` with ``x`` and ``attributions`` on named dimensions.

        Dimensions are ``case``, ``channel`` and ``time``; a shared map has dimension
        ``attribution_channel`` of length 1 (not broadcast). Needs ``pip install xarray``.
        """
        try:
            import xarray as xr
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("Explanation.to_xarray() needs xarray: pip install xarray") from error
        n, c, t = self.x.shape
        channels = list(self.channel_names) if self.channel_names else list(range(c))
        attribution_dims = (
            ("case", "channel", "time")
            if self.per_channel
            else ("case", "attribution_channel", "time")
        )
        coords: dict[str, Any] = {"case": np.arange(n), "channel": channels, "time": np.arange(t)}
        data = {
            "x": (("case", "channel", "time"), self.x),
            "attributions": (attribution_dims, self.attributions),
            "scores": (("case", "output"), self.scores),
        }
        if self.target is not None:
            data["target"] = (("case",), self.target)
        if self.lengths is not None:
            data["lengths"] = (("case",), self.lengths)
        attrs = {"method": self.method, "per_channel": int(self.per_channel), "layout": self.layout}
        attrs["params"] = json.dumps(_jsonable(self.params))
        if "layer" in self.extras:
            attrs["layer"] = str(self.extras["layer"])
        return xr.Dataset(data, coords=coords, attrs=attrs)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save to a ``.npz`` file (NumPy arrays and JSON metadata; no pickle)."""
        arrays: dict[str, np.ndarray] = {
            "x": self.x,
            "attributions": self.attributions,
            "scores": self.scores,
        }
        if self.target is not None:
            arrays["target"] = self.target
        if self.lengths is not None:
            arrays["lengths"] = self.lengths
        meta_extras: dict[str, Any] = {}
        for key, value in self.extras.items():
            if isinstance(value, np.ndarray) or key in self.case_keys:
                arrays[f"extra:{key}"] = np.asarray(value)
            else:
                converted = _jsonable(value)
                meta_extras[key] = converted if converted is not None else repr(value)
        meta_params: dict[str, Any] = {}
        for key, value in self.params.items():
            if isinstance(value, np.ndarray):
                arrays[f"param:{key}"] = value
            else:
                converted = _jsonable(value)
                meta_params[key] = converted if converted is not None else repr(value)
        meta = {
            "format": _FORMAT,
            "method": self.method,
            "per_channel": self.per_channel,
            "layout": self.layout,
            "params": meta_params,
            "extras": meta_extras,
            "case_keys": list(self.case_keys),
            "channel_names": None if self.channel_names is None else list(self.channel_names),
            "class_names": None if self.class_names is None else list(self.class_names),
        }
        arrays["meta"] = np.array(json.dumps(meta))
        with open(path, "wb") as handle:
            # numpy's stub lets **kwds fill its bool `allow_pickle`; the keys here never do.
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Explanation:
        """Load an explanation written by :meth:`save` (never unpickles anything).

        The file is validated: a file that is not one, or whose parts disagree (arrays of the
        wrong length, malformed metadata), raises ValueError naming the problem.
        """
        try:
            return cls._load(path)
        except (KeyError, TypeError, AttributeError, RecursionError, json.JSONDecodeError) as error:
            raise ValueError(
                f"{os.fspath(path)!r} is not a valid chronolens Explanation file "
                f"({type(error).__name__}: {error}). Write one with Explanation.save()."
            ) from None
        except ValueError as error:
            raise ValueError(
                f"{os.fspath(path)!r} is not a valid chronolens Explanation file: {error}"
            ) from None

    @classmethod
    def _load(cls, path: str | os.PathLike[str]) -> Explanation:
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files:
                raise ValueError(f"{os.fspath(path)!r} is not a chronolens Explanation file.")
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != _FORMAT:
                raise ValueError(
                    f"{os.fspath(path)!r} has format {meta.get('format')!r}; expected {_FORMAT!r}."
                )
            arrays = {name: data[name] for name in data.files}
        extras = dict(meta["extras"])
        params = dict(meta["params"])
        for name, value in arrays.items():
            if name.startswith("extra:"):
                extras[name[len("extra:") :]] = value
            elif name.startswith("param:"):
                params[name[len("param:") :]] = value
        return cls(
            x=arrays["x"],
            attributions=arrays["attributions"],
            target=arrays.get("target"),
            scores=arrays["scores"],
            method=meta["method"],
            params=params,
            per_channel=bool(meta["per_channel"]),
            layout=meta["layout"],
            extras=extras,
            case_keys=tuple(meta["case_keys"]),
            channel_names=None if meta["channel_names"] is None else tuple(meta["channel_names"]),
            class_names=None if meta["class_names"] is None else tuple(meta["class_names"]),
            lengths=arrays.get("lengths"),
        )
