"""The figure of a counterfactual: each channel's series and its counterfactual, changes shaded.

>>> fig = cl.plot.counterfactual(result, case=0)  # doctest: +SKIP
>>> fig = result.plot(0)  # the same  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from chronolens.plot._common import _label_channel, _new_figure

if TYPE_CHECKING:
    from chronolens.counterfactual.result import Counterfactual

__all__ = ["plot_counterfactual"]

_ORIGINAL, _CHANGED, _SHADE = "#4d4d4d", "#d6604d", "#fddbc7"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of every run of True in a 1-D mask."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _check_case(result: Counterfactual, case: Any) -> int:
    if isinstance(case, (bool, np.bool_)) or not isinstance(case, (int, np.integer)):
        raise TypeError(f"`case` must be an integer index, got {case!r}.")
    n = result.n_cases
    if not -n <= int(case) < n:
        raise IndexError(f"case {int(case)} is out of range for a result of {n} cases.")
    return int(case) % n


def _channels(
    result: Counterfactual, case: int, channels: Sequence[int] | None, max_channels: int
) -> list[int]:
    """The drawn channels: those given, else the changed ones first, in channel order."""
    c = result.original.shape[1]
    if channels is not None:
        picked = [int(ch) for ch in channels]
        bad = [ch for ch in picked if not 0 <= ch < c]
        if bad or not picked:
            raise ValueError(f"`channels` must be indices in 0..{c - 1}; got {list(channels)}.")
        return picked
    if isinstance(max_channels, bool) or not isinstance(max_channels, (int, np.integer)):
        raise TypeError(f"`max_channels` must be a positive integer, got {max_channels!r}.")
    if max_channels < 1:
        raise ValueError(f"`max_channels` must be a positive integer, got {max_channels}.")
    changed = result.changed[case].sum(axis=1)
    order = sorted(range(c), key=lambda ch: (-int(changed[ch] > 0), ch))
    return sorted(order[: int(max_channels)])


def _title(result: Counterfactual, case: int, class_names: Sequence[str] | None) -> str:
    def name(k: int) -> str:
        return class_names[k] if class_names is not None and 0 <= k < len(class_names) else str(k)

    before, after = int(result.original_class[case]), int(result.new_class[case])
    verdict = "valid" if result.validity[case] else "NOT valid: the class did not flip"
    target = int(result.target_class[case])
    aim = f" (target {name(target)})" if target >= 0 else ""
    return (
        f"{result.method}: class {name(before)} → {name(after)}{aim}, "
        f"p = {float(result.new_probability[case]):.2f}, {verdict}\n"
        f"L1 {float(result.l1[case]):.3g}, L2 {float(result.l2[case]):.3g}, "
        f"DTW {float(result.dtw[case]):.3g}, {100 * float(result.sparsity[case]):.1f} % of "
        "points changed"
    )


def plot_counterfactual(
    result: Counterfactual,
    case: int = 0,
    *,
    channels: Sequence[int] | None = None,
    max_channels: int = 12,
    channel_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Plot one case: per channel, the series and its counterfactual, the changed points shaded.

    Parameters
    ----------
    result : Counterfactual
        What :func:`chronolens.counterfactual` returned.
    case : int, default 0
        Index of the case (negative values count from the end).
    channels : sequence of int, optional
        The channels to draw. Default: the changed channels first, up to ``max_channels``.
    max_channels : int, default 12
        Most channels drawn when ``channels`` is None.
    channel_names, class_names : sequence of str, optional
        Labels of the rows and of the classes in the title.
    figsize : (float, float), optional
        Figure size in inches. Default: 8 wide, 1.1 per channel.
    title : str, optional
        Default: the method, the classes before and after, validity and proximity.

    Returns
    -------
    matplotlib.figure.Figure
    """
    case = _check_case(result, case)
    drawn = _channels(result, case, channels, max_channels)
    if channel_names is not None and len(channel_names) != result.original.shape[1]:
        raise ValueError(
            f"`channel_names` has {len(channel_names)} names for "
            f"{result.original.shape[1]} channels; pass one per channel."
        )
    fig = _new_figure(figsize or (8.0, 0.9 + 1.1 * len(drawn)))
    axes = fig.subplots(len(drawn), 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(result.original.shape[2])
    for ax, channel in zip(axes, drawn, strict=True):
        for start, stop in _runs(result.changed[case, channel]):
            ax.axvspan(start - 0.5, stop - 0.5, color=_SHADE, lw=0)
        ax.plot(t, result.original[case, channel], color=_ORIGINAL, lw=1.2, label="original")
        ax.plot(
            t, result.counterfactual[case, channel], color=_CHANGED, lw=1.2, ls="--",
            label="counterfactual",
        )  # fmt: skip
        label = channel_names[channel] if channel_names is not None else f"channel {channel}"
        _label_channel(ax, str(label))
        ax.yaxis.set_major_locator(MaxNLocator(3))
        ax.tick_params(labelsize=7)
    axes[0].legend(loc="upper right", fontsize=7, frameon=False, ncol=2)
    axes[-1].set_xlabel("time point", fontsize=9)
    fig.suptitle(title or _title(result, case, class_names), fontsize=9, parse_math=False)
    return fig
