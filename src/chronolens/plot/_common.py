"""Private helpers of the static figures: checks, channel choice, colour scales and drawing.

Shared by :mod:`chronolens.plot.static` and :mod:`chronolens.plot.comparison`: argument checks,
the choice of the channels drawn, colour scales, title texts, and the drawing of one channel row
over the heat band of its attribution.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage

    from chronolens.explanation import Explanation

_SIGNED_CMAP = "RdBu_r"
_POSITIVE_CMAP = "Reds"
#: The colour of an absent value (NaN: padding of a shorter series): no evidence, not a value.
ABSENT_COLOUR = "#bdbdbd"
_ROW_HEIGHT = 0.75  # inches per channel row


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


def case_series(explanation: Explanation, case: int) -> np.ndarray:
    """One case's series (c, t) as float64, NaN past its length (padding is not drawn)."""
    series = np.array(explanation.x[case], dtype=np.float64)
    if explanation.lengths is not None:
        series[:, int(explanation.lengths[case]) :] = np.nan
    return series


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
    base = colormaps[cmap] if isinstance(cmap, str) else cmap
    cmap = base.with_extremes(bad=ABSENT_COLOUR)  # NaN: absent, drawn grey
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


EXTENDED_NOTE = (
    "hatched: beyond the first / last receptive-field centre (map extended, not evidence)"
)


def extended_edges(explanation: Explanation) -> tuple[float, float] | None:
    """The first and last receptive-field centre of a CAM map, or None for other maps.

    Before the first and after the last centre a CAM map is only its nearest value extended to
    the series' ends; figures hatch those stretches instead of showing them as evidence.
    """
    centres = explanation.extras.get("layer_centers")
    if centres is None or np.size(centres) == 0:
        return None
    centres = np.asarray(centres, dtype=np.float64)
    lengths = explanation.lengths
    if lengths is not None and len(set(np.asarray(lengths).tolist())) > 1:
        # Unequal lengths: the recorded centres are one length group's; the first centre holds
        # for every length (padding is at the end), the last one does not.
        return float(centres.min()), float("inf")
    return float(centres.min()), float(centres.max())


def hatch_edges(ax: Axes, edges: tuple[float, float] | None, n_timepoints: int) -> None:
    """Hatch and fade the stretches outside ``edges`` (see :func:`extended_edges`)."""
    if edges is None:
        return
    style: dict[str, Any] = {
        "facecolor": "white",
        "alpha": 0.55,
        "hatch": "///",
        "edgecolor": "0.45",
        "lw": 0,
    }
    first, last = edges
    if first > -0.5:
        ax.axvspan(-0.5, min(first, n_timepoints - 0.5), zorder=1, **style)
    if last < n_timepoints - 0.5:
        ax.axvspan(max(last, -0.5), n_timepoints - 0.5, zorder=1, **style)


def _max_bins(figure_width: float, n_columns: int) -> int:
    """Band cells that stay at least one pixel wide down to 80 dpi (axes ~80% of a column)."""
    return max(16, int(figure_width / n_columns * 0.8 * 64))


def _label_channel(ax: Axes, label: str) -> None:
    ax.set_ylabel(
        label, rotation=0, ha="right", va="center", fontsize=9, parse_math=False, labelpad=6
    )


def _colorbar(fig: Figure, norm: Normalize, cmap: Any, axes: list[Axes], **options: Any) -> None:
    """Add the colorbar of one colour scale next to ``axes``, labelled "attribution"."""
    colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, **options)
    colorbar.set_label("attribution", fontsize=9)
    colorbar.ax.tick_params(labelsize=7)
