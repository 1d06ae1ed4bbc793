"""Figures of a whole dataset's explanation (:class:`chronolens.streaming.DatasetSummary`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure


def plot_dataset_summary(summary: Any, *, channel_names: list[str] | None = None) -> Figure:
    """Per-class mean maps (time x channel) and per-channel importance with intervals.

    Parameters
    ----------
    summary : chronolens.streaming.DatasetSummary
        From ``job.summary()``.
    channel_names : list of str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    k = len(summary.classes)
    fig = Figure(figsize=(3.2 * (k + 1), 3.0), layout="constrained")
    axes = fig.subplots(1, k + 1, squeeze=False)[0]
    limit = float(np.abs(summary.class_means).max()) or 1.0
    for ax, cls, mean, count in zip(axes, summary.classes, summary.class_means, summary.counts):
        image = ax.imshow(mean, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"class {cls} (n={count}): mean map")
        ax.set_xlabel("time")
        ax.set_ylabel("channel")
    if k:
        fig.colorbar(image, ax=axes[:k], shrink=0.8)
    ax = axes[-1]
    c = len(summary.channel_importance)
    low, high = summary.channel_ci[:, 0], summary.channel_ci[:, 1]
    ax.bar(np.arange(c), summary.channel_importance, color="0.6")
    ax.errorbar(
        np.arange(c),
        summary.channel_importance,
        yerr=[summary.channel_importance - low, high - summary.channel_importance],
        fmt="none",
        ecolor="k",
        capsize=3,
    )
    ax.set_xticks(np.arange(c), channel_names or [str(i) for i in range(c)])
    ax.set_title(f"channel importance ({summary.level:.0%} bootstrap CI)")
    return fig
