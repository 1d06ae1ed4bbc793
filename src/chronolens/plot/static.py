"""Static matplotlib figures of explanations, and the HTML that notebooks show.

Every function here builds its own :class:`matplotlib.figure.Figure` with the object-oriented
API and an Agg canvas: no ``pyplot`` state is read or changed, so the plots work headless, in
threads and in notebooks (where a returned Figure is displayed by its own repr).

:func:`plot_explanation` is defined here; :func:`plot_comparison` lives in
:mod:`chronolens.plot.comparison` and :func:`explanation_html` in
:mod:`chronolens.plot._html_snippet`, both importable from here as before. The private helpers
they share are in :mod:`chronolens.plot._common`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from chronolens.plot._common import (
    _ROW_HEIGHT,
    EXTENDED_NOTE,
    _case_maps,
    _check_case,
    _check_max_channels,
    _colorbar,
    _colour_scale,
    _draw_row,
    _label_channel,
    _max_bins,
    _method_label,
    _new_figure,
    _select,
    _target_label,
    case_series,
    extended_edges,
    hatch_edges,
)

# chronolens.reporting._payload imports these two from here.
from chronolens.plot._common import _are_probabilities as _are_probabilities
from chronolens.plot._common import _softmax as _softmax
from chronolens.plot.comparison import plot_comparison

if TYPE_CHECKING:
    from chronolens.explanation import Explanation

__all__ = ["plot_comparison", "plot_explanation"]


def plot_explanation(
    explanation: Explanation,
    case: int = 0,
    *,
    channels: Sequence[int | str] | None = None,
    max_channels: int = 12,
    cmap: str | Colormap | None = None,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Plot one case: every channel as a line over a heat band of its attribution.

    One row per channel, sharing the time axis; the band behind a channel is its attribution
    (a shared map draws the same band behind every channel), time point ``i``'s colour sits
    under sample ``i``. One colour scale covers all drawn channels so that they can be
    compared: a diverging map centred at 0 with limits ``±max|attribution|`` when the map has
    negative values, a sequential map from 0 to the maximum otherwise. Series too long for
    one band cell per sample at the figure's width (about 450 samples at the default size)
    are drawn with cells of several samples, each showing its largest ``|attribution|``, so
    that narrow peaks stay visible.

    Parameters
    ----------
    explanation : Explanation
        The explanation to draw.
    case : int, default 0
        Index of the case in ``explanation`` (negative values count from the end).
    channels : sequence of int or str, optional
        Channels to draw, by index or by name, in the given order. By default every channel,
        or the ``max_channels`` with the largest total ``|attribution|`` when there are more.
    max_channels : int, default 12
        Most channels drawn when ``channels`` is not given; the title says when some are left
        out.
    cmap : str or matplotlib.colors.Colormap, optional
        Colour map of the bands. Default ``"RdBu_r"`` for signed maps, ``"Reds"`` otherwise.
    figsize : tuple of float, optional
        Figure size in inches. Default: 10 wide, 0.75 per channel plus room for the title.
    title : str, optional
        Figure title. Default: method (and layer), case, explained class and its probability
        (the softmax of ``scores`` unless they already are probabilities; the raw score when
        the output has a single column or the target was a callable).

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with its own Agg canvas: ``fig.savefig(path)`` works without ``pyplot``.

    Raises
    ------
    TypeError
        If ``case`` is not an integer or ``channels`` holds something else than indices or
        names.
    IndexError
        If ``case`` or a channel index is out of range.
    ValueError
        If the explanation has no cases or ``channels`` is empty, repeats a channel or names
        an unknown one.
    """
    case = _check_case(explanation, case)
    max_channels = _check_max_channels(max_channels)
    rows, note = _select([explanation], case, channels, max_channels)
    maps = _case_maps(explanation, case)
    bands = maps[rows] if explanation.per_channel else np.repeat(maps, len(rows), axis=0)
    cmap, norm = _colour_scale(bands, cmap)
    series = case_series(explanation, case)

    if figsize is None:
        figsize = (10.0, _ROW_HEIGHT * len(rows) + 1.4)
    fig = _new_figure(figsize)
    max_bins = _max_bins(figsize[0] - 1.2, 1)
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    edges = extended_edges(explanation)
    for ax, channel, band in zip(axes, rows, bands):
        _draw_row(ax, series[channel], band, cmap, norm, max_bins)
        hatch_edges(ax, edges, series.shape[-1])
        _label_channel(ax, explanation.channel_label(channel))
    axes[-1].set_xlabel(
        "time index" if edges is None else f"time index ({EXTENDED_NOTE})", fontsize=9
    )
    _colorbar(fig, norm, cmap, list(axes), aspect=max(20, 8 * len(rows)), pad=0.01)

    if title is None:
        title = _default_title(explanation, case, note)
    if title:
        fig.suptitle(title, fontsize=10, parse_math=False)
    return fig


def _default_title(explanation: Explanation, case: int, note: str) -> str:
    """Method (and layer), case and explained class, then ``note`` when channels are left out."""
    shared = "" if explanation.per_channel else ", map shared by all channels"
    lines = [
        f"{_method_label(explanation)} — case {case} — {_target_label(explanation, case)}" + shared
    ]
    if note:
        lines.append(note)
    return "\n".join(lines)
