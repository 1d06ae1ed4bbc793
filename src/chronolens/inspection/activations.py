"""Layer activations aligned to input time, and the input windows that excite a filter most."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from chronolens.series import Layout

from chronolens._batching import chunks, resolve_batch_size
from chronolens._deprecation import renamed_keyword
from chronolens.attribution._receptive_field import (
    field_centres,
    layer_centers,
    receptive_fields,
    to_input_time,
)


@dataclass(frozen=True)
class Activations:
    """The result of :func:`chronolens.activations`.

    Attributes
    ----------
    x : numpy.ndarray of shape (n, n_channels, n_timepoints)
    values : numpy.ndarray of shape (n, n_filters, n_positions)
        The layer's output on its own positions.
    aligned : numpy.ndarray of shape (n, n_filters, n_timepoints)
        The same, carried to input time: each position sits at the centre of its receptive field,
        linear interpolation in between (as for CAM maps).
    centres : numpy.ndarray of shape (n_positions,)
        Receptive-field centre of every position, in input time points.
    layer : str
    alignment : str
        How the centres were found ("layer hyper-parameters", "probed" or "uniform").
    """

    x: np.ndarray
    values: np.ndarray
    aligned: np.ndarray
    centres: np.ndarray
    layer: str
    alignment: str

    def plot(
        self,
        case: int = 0,
        filters: Sequence[int] | None = None,
        channel_names: Sequence[str] | None = None,
    ) -> Any:
        """Filters x time heat map (aligned to input time) above the input channels.

        Parameters
        ----------
        case : int, default=0
        filters : sequence of int, optional
            Filters to show (default: all).
        channel_names : sequence of str, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        aligned = self.aligned[case]
        if filters is not None:
            aligned = aligned[list(filters)]
        series = self.x[case]
        n_channels = series.shape[0]
        fig, axes = plt.subplots(
            n_channels + 1,
            1,
            figsize=(9, 2.5 + 0.8 * n_channels),
            sharex=True,
            gridspec_kw={"height_ratios": [4] + [1] * n_channels},
            squeeze=False,
        )
        image = axes[0, 0].imshow(
            aligned,
            aspect="auto",
            interpolation="nearest",
            cmap="viridis",
            extent=(-0.5, series.shape[1] - 0.5, aligned.shape[0] - 0.5, -0.5),
        )
        shown = list(filters) if filters is not None else list(range(aligned.shape[0]))
        if len(shown) <= 32:  # label each row with its filter's own index
            axes[0, 0].set_yticks(range(len(shown)), [str(f) for f in shown], fontsize=7)
        axes[0, 0].set_ylabel("filter")
        axes[0, 0].set_title(f"{self.layer}: activations aligned to input time", fontsize=9)
        fig.colorbar(image, ax=axes[0, 0], fraction=0.02, pad=0.01, label="activation")
        for c in range(n_channels):
            ax = axes[c + 1, 0]
            ax.plot(series[c], lw=0.8, color="0.2")
            ax.set_ylabel(channel_names[c] if channel_names else f"ch {c}", fontsize=7)
            ax.tick_params(labelsize=7)
        axes[-1, 0].set_xlabel("time")
        return fig


def activations(
    model: Any, x: Any, layer: Any, *, layout: Layout = "ncl", batch_size: int | str = "auto"
) -> Activations:
    """The activations of one layer, aligned to input time through the receptive field.

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
    x : array-like of shape (n, n_channels, n_timepoints) or (n_channels, n_timepoints)
    layer : str or torch.nn.Module
        A layer whose output has a time axis.
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of ``x``: channels before time, or channels last (Keras' habit).
    batch_size : int or "auto", default="auto"

    Returns
    -------
    Activations
        ``values`` on the layer's positions, ``aligned`` in input time, and ``plot()``.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=3)
    >>> act = cl.activations(model, np.zeros((2, 3, 40), dtype="float32"), "relu1")
    >>> act.values.shape, act.aligned.shape
    ((2, 6, 40), (2, 6, 40))
    """
    from chronolens._explain import check_input
    from chronolens._validation import check_batch_size, check_choice
    from chronolens.models import adapt
    from chronolens.series import LAYOUTS, as_series

    check_choice(layout, "layout", LAYOUTS)
    adapted = adapt(model)
    series = as_series(x, layout)
    _, c, t = series.shape
    xt = torch.from_numpy(series)
    with adapted.session():
        check_input(adapted, xt, layout)  # a clear error for data stored the other way
        rows = resolve_batch_size(check_batch_size(batch_size), adapted, c, t)
        name = adapted.resolve_layer(layer, c, t)
        values = torch.cat(
            [adapted.layer_output(xt[s:e], name).cpu() for s, e in chunks(len(xt), rows)]
        )
        centres, how = layer_centers(adapted, name, c, t, rows)
    aligned = to_input_time(values, centres, t)
    return Activations(series, values.numpy(), aligned.numpy(), np.asarray(centres), name, how)


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
        """One panel per window (channels stacked, offset), strongest first.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        k = len(self.windows)
        columns = min(k, 4)
        rows = int(np.ceil(k / columns))
        fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.2 * rows), squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            if i >= k:
                ax.axis("off")
                continue
            window = self.windows[i]
            span = np.nanmax(np.abs(window)) if np.isfinite(window).any() else 1.0
            for c in range(window.shape[0]):
                label = channel_names[c] if channel_names and i == 0 else None
                ax.plot(window[c] - 2.2 * span * c, lw=0.8, label=label)
            ax.set_title(
                f"case {self.cases[i]}, t={self.starts[i]}: {self.values[i]:.2f}", fontsize=7
            )
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
        fig.suptitle(f"{self.layer}, filter {self.filter}: strongest input windows", fontsize=9)
        fig.tight_layout()
        return fig


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
    x : array-like of shape (n, n_channels, n_timepoints)
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
    from chronolens._validation import check_batch_size, check_int

    act = activations(model, x, layer, layout=layout, batch_size=batch_size)
    n, n_filters, _ = act.values.shape
    filter = check_int(filter, "filter", minimum=0)
    if filter >= n_filters:
        raise ValueError(
            f"Layer {act.layer!r} has {n_filters} filters; `filter` {filter} is out of range."
        )
    k = min(check_int(k, "k", minimum=1), n)
    from chronolens.models import adapt

    adapted = adapt(model)
    _, c, t = act.x.shape
    with adapted.session():
        rows = resolve_batch_size(check_batch_size(batch_size), adapted, c, t)
        fields = receptive_fields(adapted, act.layer, c, t, rows)
    if fields is None:
        raise ValueError(f"The receptive fields of layer {act.layer!r} could not be measured.")
    low, high = fields
    response = act.values[:, filter]
    best_position = response.argmax(axis=1)
    best_value = response[np.arange(n), best_position]
    cases = np.argsort(-best_value, kind="stable")[:k]
    positions = best_position[cases]
    # The full receptive-field width, around each field's true centre: an edge position's
    # field, clipped by the series' end, is placed where it would lie unclipped.
    width = int((high - low).max()) + 1
    centre = field_centres(low, high)
    windows = np.full((k, c, width), np.nan, dtype=np.float32)
    starts = np.empty(k, dtype=np.int64)
    for i, (case, position) in enumerate(zip(cases, positions)):
        start = int(np.floor(centre[position] - (width - 1) / 2))
        starts[i] = start
        lo, hi = max(start, 0), min(start + width, t)
        windows[i, :, lo - start : hi - start] = act.x[case, :, lo:hi]
    return TopWindows(
        windows=windows,
        cases=cases,
        positions=positions,
        starts=starts,
        values=best_value[cases],
        layer=act.layer,
        filter=filter,
    )
