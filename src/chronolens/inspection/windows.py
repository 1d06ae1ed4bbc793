"""The input windows across a data set that excite one filter most: what the filter detects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from chronolens.series import Layout

from chronolens._batching import resolve_batch_size
from chronolens._deprecation import renamed_keyword
from chronolens._lengths import groups, is_ragged, pad_series
from chronolens.attribution._receptive_field import field_centres, receptive_fields
from chronolens.inspection.activations import activations


@dataclass(frozen=True)
class TopWindows:
    """The result of :func:`chronolens.top_windows`.

    Attributes
    ----------
    windows : numpy.ndarray of shape (k, n_channels, width)
        The input inside each chosen position's receptive field (NaN where the field runs past
        an end of the series), strongest first.
    cases, positions : numpy.ndarray of shape (k,)
        The case and the layer position of each window.
    starts : numpy.ndarray of shape (k,)
        Input time of each window's first point.
    values : numpy.ndarray of shape (k,)
        The filter's activation there.
    layer : str
    filter : int
    """

    windows: np.ndarray
    cases: np.ndarray
    positions: np.ndarray
    starts: np.ndarray
    values: np.ndarray
    layer: str
    filter: int

    def plot(self, channel_names: Sequence[str] | None = None) -> Any:
        """One panel per window, strongest first: channels stacked and named, input time below.

        Parameters
        ----------
        channel_names : sequence of str, optional
            One name per channel (default "channel 0", "channel 1", ...).

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        k, n_channels, width = self.windows.shape
        names = _channel_names(channel_names, n_channels)
        columns = min(k, 4)
        rows = int(np.ceil(k / columns))
        height = 1.2 + 0.35 * n_channels
        fig, axes = plt.subplots(
            rows, columns, figsize=(2.8 * columns, height * rows), squeeze=False
        )
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, ax in enumerate(axes.ravel()):
            if i >= k:
                ax.axis("off")
                continue
            window = self.windows[i]
            span = float(np.nanmax(np.abs(window))) if np.isfinite(window).any() else 1.0
            span = span if span > 0 else 1.0
            time = np.arange(self.starts[i], self.starts[i] + width)
            offsets = [-2.2 * span * c for c in range(n_channels)]
            for c in range(n_channels):
                ax.plot(time, window[c] + offsets[c], lw=0.8, color=colours[c % len(colours)])
            ax.set_yticks(offsets, names if i % columns == 0 else [""] * n_channels, fontsize=6)
            ax.set_title(
                f"case {self.cases[i]}, t {self.starts[i]}-{self.starts[i] + width - 1}: "
                f"{self.values[i]:.2f}",
                fontsize=7,
            )
            ax.tick_params(labelsize=6)
            if i >= (rows - 1) * columns:
                ax.set_xlabel("input time", fontsize=7)
        fig.suptitle(
            f"{self.layer}, filter {self.filter}: the {k} input windows with the highest "
            "activation (value in each title)",
            fontsize=9,
        )
        fig.tight_layout()
        return fig


def _channel_names(names: Sequence[str] | None, n_channels: int) -> list[str]:
    if names is None:
        return [f"channel {c}" for c in range(n_channels)]
    names = [str(name) for name in names]
    if len(names) != n_channels:
        raise ValueError(
            f"`channel_names` has {len(names)} names for {n_channels} channels; pass one per "
            "channel."
        )
    return names


@dataclass(frozen=True)
class _Candidates:
    """Each case's strongest position of the filter, for cases of one length."""

    cases: np.ndarray  # indices into the whole data
    series: np.ndarray  # (len(cases), c, t) at this length
    positions: np.ndarray
    values: np.ndarray
    low: np.ndarray  # receptive fields of the layer at this length
    high: np.ndarray
    layer: str


def _candidates(
    model: Any, data: Any, layout: Layout, layer: Any, filter: int, batch_size: Any
) -> _Candidates:
    from chronolens._validation import check_batch_size
    from chronolens.models import adapt

    act = activations(model, data, layer, layout=layout, batch_size=batch_size)
    series = act.x
    n_filters = act.values.shape[1]
    if filter >= n_filters:
        raise ValueError(
            f"Layer {act.layer!r} has {n_filters} filters; `filter` {filter} is out of range."
        )
    adapted = adapt(model)
    _, c, t = series.shape
    with adapted.session():
        rows = resolve_batch_size(check_batch_size(batch_size), adapted, c, t)
        fields = receptive_fields(adapted, act.layer, c, t, rows)
    if fields is None:
        raise ValueError(f"The receptive fields of layer {act.layer!r} could not be measured.")
    response = act.values[:, filter]
    positions = response.argmax(axis=1)
    values = response[np.arange(len(series)), positions]
    cases = np.arange(len(series))
    return _Candidates(cases, series, positions, values, fields[0], fields[1], act.layer)


@renamed_keyword("X", "x")
def top_windows(
    model: Any,
    x: Any,
    layer: Any,
    filter: int,
    *,
    k: int = 8,
    layout: Layout = "ncl",
    batch_size: int | str = "auto",
) -> TopWindows:
    """The input windows across a data set that most excite one filter: what it detects.

    Every case's strongest position of the filter is found; the ``k`` cases with the highest
    values give the windows: the input inside that position's receptive field (measured by
    probing, so it works for any architecture).

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
    x : array-like of shape (n, n_channels, n_timepoints), or a list of (n_channels, t_i)
        A list of series of unequal lengths runs each length at its own length.
    layer : str or torch.nn.Module
    filter : int
        The filter (output channel) of ``layer``.
    k : int, default=8
        Windows to return (at most one per case).
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of ``x``; windows come back in the chronolens layout (channels, time).
    batch_size : int or "auto", default="auto"

    Returns
    -------
    TopWindows
        With ``plot()``.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.testing import tiny_conv_model
    >>> x = np.random.default_rng(0).normal(size=(10, 3, 40)).astype("float32")
    >>> top = cl.top_windows(tiny_conv_model(n_channels=3), x, "conv1", 0, k=3)
    >>> top.windows.shape
    (3, 3, 5)
    """
    from chronolens._validation import check_choice, check_int
    from chronolens.series import LAYOUTS

    filter = check_int(filter, "filter", minimum=0)
    k = check_int(k, "k", minimum=1)
    check_choice(layout, "layout", LAYOUTS)
    if not is_ragged(x):
        return _choose([_candidates(model, x, layout, layer, filter, batch_size)], k, filter)
    padded, lengths = pad_series(x, layout)
    found = []
    for length, index in groups(lengths):  # each length at its own length
        part = _candidates(model, padded[index][:, :, :length], "ncl", layer, filter, batch_size)
        found.append(replace(part, cases=index))
    return _choose(found, k, filter)


def _choose(found: list[_Candidates], k: int, filter: int) -> TopWindows:
    """The ``k`` strongest cases over every length, and the input inside their fields."""
    values = np.concatenate([part.values for part in found])
    owner = np.concatenate([np.full(len(part.cases), g) for g, part in enumerate(found)])
    row = np.concatenate([np.arange(len(part.cases)) for part in found])
    case = np.concatenate([part.cases for part in found])
    # strongest first; ties go to the lower case index, as on equal-length data
    order = np.lexsort((case, -values))[: min(k, len(values))]
    # The full receptive-field width, around each field's true centre: an edge position's
    # field, clipped by the series' end, is placed where it would lie unclipped.
    width = max(int((part.high - part.low).max()) + 1 for part in found)
    c = found[0].series.shape[1]
    windows = np.full((len(order), c, width), np.nan, dtype=np.float32)
    starts = np.empty(len(order), dtype=np.int64)
    positions = np.empty(len(order), dtype=np.int64)
    for i, chosen in enumerate(order):
        part, r = found[owner[chosen]], row[chosen]
        position = int(part.positions[r])
        centre = field_centres(part.low, part.high)[position]
        start = int(np.floor(centre - (width - 1) / 2))
        t = part.series.shape[2]
        lo, hi = max(start, 0), min(start + width, t)
        windows[i, :, lo - start : hi - start] = part.series[r, :, lo:hi]
        starts[i], positions[i] = start, position
    return TopWindows(
        windows=windows,
        cases=case[order],
        positions=positions,
        starts=starts,
        values=values[order],
        layer=found[0].layer,
        filter=filter,
    )
