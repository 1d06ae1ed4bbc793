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
from chronolens._lengths import is_ragged
from chronolens.attribution._receptive_field import (
    layer_centers,
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
    centres : numpy.ndarray of shape (n_positions,), or (n, n_positions) for unequal lengths
        Receptive-field centre of every position, in input time points.
    layer : str
    alignment : str
        How the centres were found ("layer hyper-parameters", "probed" or "uniform").
    lengths : numpy.ndarray of shape (n,), optional
        Each case's length when the data had unequal lengths (a list of ``(c, t_i)`` series):
        every length is run at its own length, ``x`` is zero-padded at the end, and ``values``,
        ``aligned`` and ``centres`` are NaN past each case's positions and points.
    """

    x: np.ndarray
    values: np.ndarray
    aligned: np.ndarray
    centres: np.ndarray
    layer: str
    alignment: str
    lengths: np.ndarray | None = None

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
        series = self.x[case]
        if self.lengths is not None:  # draw the case at its own length
            aligned = aligned[:, : int(self.lengths[case])]
            series = series[:, : int(self.lengths[case])]
        if filters is not None:
            aligned = aligned[list(filters)]
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
            ax.set_ylabel(channel_names[c] if channel_names else f"channel {c}", fontsize=7)
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
        Or a list of ``(n_channels, t_i)`` series of unequal lengths: each length is run at its
        own length (see ``Activations.lengths``).
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
    from chronolens._input_check import check_input
    from chronolens._validation import check_batch_size, check_choice
    from chronolens.models import adapt
    from chronolens.series import LAYOUTS, as_series

    check_choice(layout, "layout", LAYOUTS)
    if is_ragged(x):
        return by_length(
            x, layout, lambda part: activations(model, part, layer, batch_size=batch_size)
        )
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


def by_length(x: Any, layout: Layout, run: Any) -> Activations:
    """``run`` (equal-length data -> Activations) on each length of ragged ``x``, merged."""
    from chronolens._lengths import groups, pad_series, stack_cases

    padded, lengths = pad_series(x, layout)
    parts = [(index, run(padded[index][:, :, :length])) for length, index in groups(lengths)]
    n = len(padded)
    first = parts[0][1]
    centres = stack_cases(
        [
            (index, np.broadcast_to(part.centres, (len(index), part.centres.size)))
            for index, part in parts
        ],
        n,
    )
    how = sorted({part.alignment for _, part in parts})
    return Activations(
        x=padded,
        values=stack_cases([(index, part.values) for index, part in parts], n),
        aligned=stack_cases([(index, part.aligned) for index, part in parts], n),
        centres=centres.astype(np.float64),
        layer=first.layer,
        alignment=", ".join(how),
        lengths=lengths,
    )
