"""The comparison figure: one case under several explanations, side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from chronolens.plot._common import (
    _ROW_HEIGHT,
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

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from chronolens.explanation import Explanation

__all__ = ["plot_comparison"]


def plot_comparison(
    explanations: Sequence[Explanation] | Mapping[str, Explanation],
    case: int = 0,
    *,
    channels: Sequence[int | str] | None = None,
    max_channels: int = 12,
    cmap: str | Colormap | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Plot the same case under several explanations side by side (e.g. one per method).

    One column per explanation, one row per channel; each column has its own colour scale
    (methods have different units) with its colorbar below it.

    Parameters
    ----------
    explanations : sequence of Explanation or mapping of str to Explanation
        Explanations of the same series. Column titles are the method names (with the layer
        for CAM methods), or the keys of a mapping.
    case : int, default 0
        Index of the case in every explanation.
    channels : sequence of int or str, optional
        Channels to draw, by index or by name (names of the first explanation). By default
        every channel, or the ``max_channels`` with the largest total ``|attribution|``
        (summed over the explanations, each normalised to total 1) when there are more.
    max_channels : int, default 12
        Most channels drawn when ``channels`` is not given.
    cmap : str or matplotlib.colors.Colormap, optional
        Colour map of the bands. Default ``"RdBu_r"`` for signed maps, ``"Reds"`` otherwise,
        chosen per column.
    figsize : tuple of float, optional
        Figure size in inches. Default: 4.5 per column wide, 0.75 per channel plus room for
        titles and colorbars.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If no explanation is given or their ``x`` differ (shape or values for this case).
    TypeError, IndexError
        As :func:`plot_explanation` for ``case`` and ``channels``.
    """
    items, titles = _named(explanations)
    reference = items[0]
    case = _checked_case(items, titles, case)
    max_channels = _check_max_channels(max_channels)
    rows, note = _select(items, case, channels, max_channels)
    series = case_series(reference, case)

    targets = [_target_label(exp, case) for exp in items]
    same_target = len(set(targets)) == 1
    if figsize is None:
        figsize = (4.5 * len(items) + 1.2, _ROW_HEIGHT * len(rows) + 2.0)
    fig = _new_figure(figsize)
    max_bins = _max_bins(figsize[0] - 1.2, len(items))
    grid = fig.subplots(len(rows), len(items), sharex=True, squeeze=False)
    for column, (exp, title, target) in enumerate(zip(items, titles, targets)):
        head = title if same_target else f"{title}\n{target}"
        _draw_column(fig, list(grid[:, column]), exp, case, rows, series, cmap, max_bins, head)
    for ax, channel in zip(grid[:, 0], rows):
        _label_channel(ax, reference.channel_label(channel))

    lines = [f"case {case}" + (f" — {targets[0]}" if same_target else "")]
    if note:
        lines.append(note)
    fig.suptitle("\n".join(lines), fontsize=10, parse_math=False)
    return fig


def _named(
    explanations: Sequence[Explanation] | Mapping[str, Explanation],
) -> tuple[list[Explanation], list[str]]:
    """The explanations and their column titles (the keys of a mapping, or the methods)."""
    if isinstance(explanations, Mapping):
        titles = [str(key) for key in explanations]
        items = list(explanations.values())
    else:
        items = list(explanations)
        titles = [_method_label(exp) for exp in items]
    if not items:
        raise ValueError("`explanations` is empty: give at least one Explanation.")
    return items, titles


def _checked_case(items: list[Explanation], titles: list[str], case: int) -> int:
    """Check that every explanation explains the same x; return ``case`` as an index."""
    reference = items[0]
    for title, exp in zip(titles[1:], items[1:]):
        if exp.x.shape != reference.x.shape:
            raise ValueError(
                f"All explanations must explain the same x: {titles[0]!r} has x of shape "
                f"{reference.x.shape} but {title!r} has {exp.x.shape}."
            )
    case = _check_case(reference, case)
    for title, exp in zip(titles[1:], items[1:]):
        if not np.allclose(exp.x[case], reference.x[case], equal_nan=True):
            raise ValueError(
                f"All explanations must explain the same x: case {case} of {title!r} differs "
                f"from that of {titles[0]!r}."
            )
    return case


def _draw_column(
    fig: Figure,
    axes: list[Axes],
    explanation: Explanation,
    case: int,
    rows: list[int],
    series: np.ndarray,
    cmap: str | Colormap | None,
    max_bins: int,
    head: str,
) -> None:
    """Draw one explanation's column: its rows, title, time label and colorbar below."""
    maps = _case_maps(explanation, case)
    bands = maps[rows] if explanation.per_channel else np.repeat(maps, len(rows), axis=0)
    column_cmap, norm = _colour_scale(bands, cmap)
    edges = extended_edges(explanation)
    for ax, channel, band in zip(axes, rows, bands):
        _draw_row(ax, series[channel], band, column_cmap, norm, max_bins)
        hatch_edges(ax, edges, series.shape[-1])
    axes[0].set_title(head, fontsize=10, parse_math=False)
    axes[-1].set_xlabel(
        "time index" if edges is None else "time index (hatched: extended)", fontsize=9
    )
    _colorbar(fig, norm, column_cmap, axes, location="bottom", aspect=30, pad=0.01)
