"""Static matplotlib figures of explanations, and the HTML that notebooks show.

Every function here builds its own :class:`matplotlib.figure.Figure` with the object-oriented
API and an Agg canvas: no ``pyplot`` state is read or changed, so the plots work headless, in
threads and in notebooks (where a returned Figure is displayed by its own repr).
"""

from __future__ import annotations

import base64
import html
import io
import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage

    from chronolens.explanation import Explanation

__all__ = ["explanation_html", "plot_comparison", "plot_explanation"]

_SIGNED_CMAP = "RdBu_r"
_POSITIVE_CMAP = "Reds"
_ROW_HEIGHT = 0.75  # inches per channel row
_MAX_HTML_LIST = 8  # names listed in the HTML summary before "…"


# ---------------------------------------------------------------------- checks and choices
def _check_case(explanation: Explanation, case: Any) -> int:
    """Return ``case`` as a non-negative index into ``explanation``."""
    if isinstance(case, (bool, np.bool_)) or not isinstance(case, (int, np.integer)):
        raise TypeError(f"`case` must be an integer index, got {case!r}.")
    n = explanation.n_cases
    if n == 0:
        raise ValueError("The explanation has no cases to plot.")
    if not -n <= int(case) < n:
        raise IndexError(f"case {int(case)} is out of range for an explanation of {n} cases.")
    return int(case) % n


def _check_max_channels(max_channels: Any) -> int:
    if isinstance(max_channels, bool) or not isinstance(max_channels, (int, np.integer)):
        raise TypeError(f"`max_channels` must be a positive integer, got {max_channels!r}.")
    if max_channels < 1:
        raise ValueError(f"`max_channels` must be a positive integer, got {max_channels}.")
    return int(max_channels)


def _channel_indices(explanation: Explanation, channels: Any) -> list[int]:
    """Validate a user selection of channels (indices or names) and return indices."""
    n = int(explanation.x.shape[1])
    if isinstance(channels, (str, int, np.integer)):
        channels = [channels]
    names = list(explanation.channel_names) if explanation.channel_names else []
    indices: list[int] = []
    for item in channels:
        if isinstance(item, str):
            if item not in names:
                raise ValueError(f"unknown channel name {item!r}; channels are {names}.")
            indices.append(names.index(item))
            continue
        try:
            index = operator.index(item)
        except TypeError:
            raise TypeError(
                f"`channels` must hold channel indices or names, got {item!r}."
            ) from None
        if not -n <= index < n:
            raise IndexError(f"channel {index} is out of range for {n} channels.")
        indices.append(index % n)
    if not indices:
        raise ValueError("`channels` selects no channel.")
    if len(set(indices)) != len(indices):
        raise ValueError(f"`channels` selects a channel twice: {indices}.")
    return indices


def _top_channels(weights: np.ndarray, count: int) -> list[int]:
    """Indices of the ``count`` largest weights, in channel order (ties: lower index first)."""
    weights = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0)
    order = np.argsort(-weights, kind="stable")[:count]
    return sorted(int(i) for i in order)


def _case_maps(explanation: Explanation, case: int) -> np.ndarray:
    """Attributions of one case as float64 of shape (n_channels or 1, n_timepoints)."""
    return np.asarray(explanation.attributions[case], dtype=np.float64)


def _select(
    explanations: Sequence[Explanation], case: int, channels: Any, max_channels: int
) -> tuple[list[int], str]:
    """Channels to draw for ``case``, and a note for the title when some are left out."""
    first = explanations[0]
    n_channels = int(first.x.shape[1])
    if channels is not None:
        return _channel_indices(first, channels), ""
    if n_channels <= max_channels:
        return list(range(n_channels)), ""
    weights = np.zeros(n_channels)
    for exp in explanations:
        totals = np.nansum(np.abs(_case_maps(exp, case)), axis=1)
        totals = np.broadcast_to(totals, (n_channels,))
        weights += totals / totals.sum() if totals.sum() > 0 else totals
    note = f"showing {max_channels} of {n_channels} channels with the largest total |attribution|"
    return _top_channels(weights, max_channels), note


def _colour_scale(values: np.ndarray, cmap: str | Colormap | None) -> tuple[Any, Normalize]:
    """One scale for ``values``: diverging and symmetric at 0 if signed, else 0..max."""
    finite = values[np.isfinite(values)]
    signed = bool(finite.size) and float(finite.min()) < 0
    top = float(np.abs(finite).max()) if finite.size else 0.0
    if top == 0.0:
        top = 1.0
    if signed:
        return cmap or _SIGNED_CMAP, Normalize(vmin=-top, vmax=top)
    return cmap or _POSITIVE_CMAP, Normalize(vmin=0.0, vmax=top)


# ---------------------------------------------------------------------- text
def _method_label(explanation: Explanation) -> str:
    label = str(explanation.method)
    if "layer" in explanation.extras:
        label += f" (layer {explanation.extras['layer']})"
    return label


def _are_probabilities(row: np.ndarray) -> bool:
    return bool(
        row.size > 1
        and np.all(np.isfinite(row))
        and row.min() >= 0.0
        and row.max() <= 1.0
        and abs(row.sum() - 1.0) <= 1e-3
    )


def _softmax(row: np.ndarray) -> np.ndarray:
    shifted = np.exp(row - np.max(row))
    return shifted / shifted.sum()


def _target_label(explanation: Explanation, case: int) -> str:
    """``"explained: walk (p = 0.912)"``, or the score for one-column outputs."""
    scores = np.asarray(explanation.scores[case], dtype=np.float64).ravel()
    if explanation.target is None:
        if scores.size == 1:
            return f"custom target (score = {scores[0]:.3g})"
        return "custom target"
    klass = int(explanation.target[case])
    label = f"explained: {explanation.class_label(klass)}"
    if scores.size == 1:
        return f"{label} (score = {scores[0]:.3g})"
    if not 0 <= klass < scores.size:
        return label
    if not np.all(np.isfinite(scores)):
        return f"{label} (score = {scores[klass]:.3g})"
    probabilities = scores if _are_probabilities(scores) else _softmax(scores)
    return f"{label} (p = {probabilities[klass]:.3f})"


# ---------------------------------------------------------------------- drawing
def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)  # own Agg canvas: savefig, draw and buffer_rgba work without pyplot
    return fig


def _pool_band(band: np.ndarray, max_bins: int) -> tuple[np.ndarray, int]:
    """Cut ``band`` into at most ``max_bins`` bins of equal width, keeping each bin's peak.

    A bin's value is its entry of largest ``|value|`` (sign kept), so that a one-sample spike
    in a long series stays visible instead of falling between screen pixels. Returns the
    pooled band and the number of samples per bin (1: unchanged).
    """
    n_timepoints = band.shape[0]
    factor = max(1, -(-n_timepoints // max(1, max_bins)))
    if factor == 1:
        return band, 1
    n_bins = -(-n_timepoints // factor)
    padded = np.full(n_bins * factor, np.nan)
    padded[:n_timepoints] = band
    blocks = padded.reshape(n_bins, factor)
    magnitude = np.where(np.isfinite(blocks), np.abs(blocks), -1.0)
    pooled = blocks[np.arange(n_bins), np.argmax(magnitude, axis=1)]
    return pooled, factor


def _draw_row(
    ax: Axes, series: np.ndarray, band: np.ndarray, cmap: Any, norm: Normalize, max_bins: int
) -> AxesImage:
    """Draw ``series`` over a heat band of ``band``; sample i is centred on x = i.

    Bands longer than ``max_bins`` are peak-pooled (see :func:`_pool_band`): bin j then spans
    exactly its samples ``j*f .. (j+1)*f - 1``.
    """
    n_timepoints = series.shape[0]
    finite = series[np.isfinite(series)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
    pad = 0.08 * (high - low) if high > low else max(0.5 * abs(low), 0.5)
    low, high = low - pad, high + pad
    pooled, factor = _pool_band(band, max_bins)
    image = ax.imshow(
        pooled[np.newaxis, :],
        cmap=cmap,
        norm=norm,
        aspect="auto",
        interpolation="nearest",
        origin="lower",
        extent=(-0.5, pooled.shape[0] * factor - 0.5, low, high),
        zorder=0,
    )
    ax.plot(np.arange(n_timepoints), series, color="black", linewidth=0.9, zorder=2)
    ax.set_xlim(-0.5, n_timepoints - 0.5)
    ax.set_ylim(low, high)
    ax.tick_params(axis="both", labelsize=7)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
    return image


def _max_bins(figure_width: float, n_columns: int) -> int:
    """Band cells that stay at least one pixel wide down to 80 dpi (axes ~80% of a column)."""
    return max(16, int(figure_width / n_columns * 0.8 * 64))


def _label_channel(ax: Axes, label: str) -> None:
    ax.set_ylabel(
        label, rotation=0, ha="right", va="center", fontsize=9, parse_math=False, labelpad=6
    )


# ---------------------------------------------------------------------- public API
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
    series = np.asarray(explanation.x[case], dtype=np.float64)

    if figsize is None:
        figsize = (10.0, _ROW_HEIGHT * len(rows) + 1.4)
    fig = _new_figure(figsize)
    max_bins = _max_bins(figsize[0] - 1.2, 1)
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    for ax, channel, band in zip(axes, rows, bands):
        _draw_row(ax, series[channel], band, cmap, norm, max_bins)
        _label_channel(ax, explanation.channel_label(channel))
    axes[-1].set_xlabel("time index", fontsize=9)

    mappable = ScalarMappable(norm=norm, cmap=cmap)
    colorbar = fig.colorbar(mappable, ax=list(axes), aspect=max(20, 8 * len(rows)), pad=0.01)
    colorbar.set_label("attribution", fontsize=9)
    colorbar.ax.tick_params(labelsize=7)

    if title is None:
        shared = "" if explanation.per_channel else ", map shared by all channels"
        lines = [
            f"{_method_label(explanation)} — case {case} — {_target_label(explanation, case)}"
            + shared
        ]
        if note:
            lines.append(note)
        title = "\n".join(lines)
    if title:
        fig.suptitle(title, fontsize=10, parse_math=False)
    return fig


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
    if isinstance(explanations, Mapping):
        titles = [str(key) for key in explanations]
        items = list(explanations.values())
    else:
        items = list(explanations)
        titles = [_method_label(exp) for exp in items]
    if not items:
        raise ValueError("`explanations` is empty: give at least one Explanation.")
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
    max_channels = _check_max_channels(max_channels)
    rows, note = _select(items, case, channels, max_channels)
    series = np.asarray(reference.x[case], dtype=np.float64)

    targets = [_target_label(exp, case) for exp in items]
    same_target = len(set(targets)) == 1
    if figsize is None:
        figsize = (4.5 * len(items) + 1.2, _ROW_HEIGHT * len(rows) + 2.0)
    fig = _new_figure(figsize)
    max_bins = _max_bins(figsize[0] - 1.2, len(items))
    grid = fig.subplots(len(rows), len(items), sharex=True, squeeze=False)
    for column, (exp, title, target) in enumerate(zip(items, titles, targets)):
        maps = _case_maps(exp, case)
        bands = maps[rows] if exp.per_channel else np.repeat(maps, len(rows), axis=0)
        column_cmap, norm = _colour_scale(bands, cmap)
        for row, (channel, band) in enumerate(zip(rows, bands)):
            ax = grid[row, column]
            _draw_row(ax, series[channel], band, column_cmap, norm, max_bins)
            if column == 0:
                _label_channel(ax, reference.channel_label(channel))
        head = title if same_target else f"{title}\n{target}"
        grid[0, column].set_title(head, fontsize=10, parse_math=False)
        grid[-1, column].set_xlabel("time index", fontsize=9)
        colorbar = fig.colorbar(
            ScalarMappable(norm=norm, cmap=column_cmap),
            ax=list(grid[:, column]),
            location="bottom",
            aspect=30,
            pad=0.01,
        )
        colorbar.set_label("attribution", fontsize=9)
        colorbar.ax.tick_params(labelsize=7)

    lines = [f"case {case}" + (f" — {targets[0]}" if same_target else "")]
    if note:
        lines.append(note)
    fig.suptitle("\n".join(lines), fontsize=10, parse_math=False)
    return fig


def _names_text(names: Sequence[str]) -> str:
    shown = [str(name) for name in names[:_MAX_HTML_LIST]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f", … ({more} more)" if more > 0 else "")


def explanation_html(explanation: Explanation, case: int = 0) -> str:
    """Return a compact HTML view of an explanation for Jupyter's ``_repr_html_``.

    A summary table (method, layer, cases, shapes, names) and the figure of ``case`` as an
    embedded PNG. Every user-supplied string is escaped. If the figure cannot be drawn the
    table is returned with a note instead, so that displaying the object never fails.

    Parameters
    ----------
    explanation : Explanation
        The explanation to describe.
    case : int, default 0
        The case drawn in the figure.

    Returns
    -------
    str
        An HTML fragment.
    """
    n, c, t = (int(size) for size in explanation.x.shape)
    rows: list[tuple[str, str]] = [("method", str(explanation.method))]
    if "layer" in explanation.extras:
        rows.append(("layer", str(explanation.extras["layer"])))
    rows += [
        ("n_cases", str(n)),
        ("x", f"{n} cases × {c} channels × {t} time points"),
        (
            "attributions",
            f"{tuple(explanation.attributions.shape)}, "
            + ("per channel" if explanation.per_channel else "shared by all channels"),
        ),
        ("per_channel", str(bool(explanation.per_channel))),
    ]
    if explanation.channel_names:
        rows.append(("channels", _names_text(explanation.channel_names)))
    if explanation.class_names:
        rows.append(("classes", _names_text(explanation.class_names)))
    table = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{html.escape(key)}</th>'
        f'<td style="text-align:left">{html.escape(value)}</td></tr>'
        for key, value in rows
    )

    picture = ""
    if n > 0:
        try:
            fig = plot_explanation(explanation, case)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=80)
            encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
            alt = f"{explanation.method}, case {case}"
            picture = (
                f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}" '
                'style="max-width:100%"/>'
            )
        except Exception as error:  # a repr must not raise; say why there is no figure
            message = f"figure unavailable: {type(error).__name__}: {error}"
            picture = f"<p><em>{html.escape(message)}</em></p>"
    return (
        '<div class="chronolens-explanation">'
        f"<strong>chronolens.Explanation</strong>"
        f'<table style="border-collapse:collapse;font-size:90%">{table}</table>'
        f"{picture}</div>"
    )
