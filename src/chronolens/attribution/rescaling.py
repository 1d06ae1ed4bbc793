"""Temporal saliency rescaling (TSR, Ismail et al., NeurIPS 2020): wraps any registered method.

Step 1 (time relevance): every time step (or window of ``window`` steps) is masked in turn; its
relevance is the total absolute change of the base method's map, min-max scaled over time.
Step 2 (feature relevance): inside the steps whose time relevance is above the ``threshold``
quantile, each channel is masked alone at that step; its relevance is again the total change of
the map, min-max scaled over channels. Steps below the threshold get ``low_feature_relevance``
(0.1 in the paper) for every channel. The map is the product of the two.

All masked copies of all cases are stacked as rows and sent to the base method together, in
chunks, so the base method's own batching applies.
"""

from __future__ import annotations

from typing import Any

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._scaling import min_max
from chronolens._validation import check_float, check_int
from chronolens.attribution._result import BoundCall, MethodResult
from chronolens.baselines import replacement
from chronolens.models.base import Model
from chronolens.targets import Target


def tsr(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    base: BoundCall | str = "saliency",
    base_params: dict[str, Any] | None = None,
    threshold: float = 0.55,
    low_feature_relevance: float = 0.1,
    window: int = 1,
    baseline: Any = "mean",
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Temporal saliency rescaling of any registered method.

    ``R[c, t] = T[t] * F[c, t]``: ``T`` is the time relevance (how much the base map changes,
    in total absolute value, when time step ``t`` is masked in every channel; min-max scaled over
    time) and ``F`` the feature relevance (the same change when only channel ``c`` is masked at
    ``t``, min-max scaled over channels), computed only at steps with ``T[t]`` above the
    ``threshold`` quantile of ``T``; elsewhere ``F = low_feature_relevance``. Non-negative.

    Cost: the base method on ``1 + t/window + n_channels * (steps above the threshold)`` masked
    copies of each case (about ``1 + 0.45 * (n_channels + 1) * t / window``). For long series use
    ``window`` > 1, which masks non-overlapping windows of that many steps instead of single
    steps (each step of a window gets the window's relevance).

    Parameters
    ----------
    base : str, default="saliency"
        The registered method to rescale, e.g. "integrated_gradients" (any method except "tsr").
        ``explain()`` binds it to the model (it receives the bound method), so ``tsr`` works
        wherever its base method works.
    base_params : dict, optional
        Parameters of the base method, e.g. ``{"n_steps": 16}``; ``{"layer": ...}`` for a CAM
        base (default: its default layer).
    threshold : float, default=0.55
        Quantile of the time relevance above which feature relevance is computed (the paper's
        code uses the 0.55 quantile).
    low_feature_relevance : float, default=0.1
        Feature relevance of every channel at steps below the threshold (paper: 0.1).
    window : int, default=1
        Time steps masked together (1: the paper's single steps).
    baseline : {"mean", "zeros"}, float or array, default="mean"
        The value a masked point takes: each channel's mean over time, zero, a constant, or an
        array of the shape of the series. (The paper's code uses the series' first value.)

    Notes
    -----
    ``extras``: ``base``, ``time_relevance`` (n, t) and ``feature_relevance`` (n, c, t).

    References
    ----------
    Ismail, Gunady, Corrada Bravo, Feizi (2020). Benchmarking deep learning interpretability in
    time series predictions. NeurIPS.
    """
    threshold = check_float(threshold, "threshold", minimum=0.0, maximum=1.0)
    low_feature_relevance = check_float(low_feature_relevance, "low_feature_relevance")
    n, n_channels, n_timepoints = x.shape
    window = check_int(window, "window", minimum=1, maximum=n_timepoints)
    if isinstance(base, str):
        raise TypeError(
            "tsr runs a bound base method: call it through chronolens.explain(model, x, 'tsr', "
            f"base={base!r}), which binds the base method to the model."
        )
    extras: dict[str, Any] = {"base": base.name}
    if base.layer is not None:
        extras["layer"] = base.layer
    if base.randomized:
        extras["seed"] = base.seed
    fill = replacement(baseline, x, allowed=("mean", "zeros", "blur"))
    assert fill is not None
    starts = torch.arange(0, n_timepoints, window)
    n_windows = len(starts)
    owner = torch.div(torch.arange(n_timepoints), window, rounding_mode="floor")

    def run(rows_x: torch.Tensor, rows_target: Target) -> torch.Tensor:
        result = base(rows_x, rows_target, batch_size=batch_size, progress=SILENT)
        return result.attributions.detach().cpu().float()

    progress.start(n * (1 + n_windows))
    original = run(x, target)  # (n, c_attr, t)
    progress.advance(n)

    def change(case: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """Total absolute change of the map of each masked row of ``case``."""
        total = torch.empty(len(case))
        step = max(batch_size, 1)
        for start, stop in chunks(len(case), step):
            rows = case[start:stop]
            maps = run(masked[start:stop], target.take(rows))
            total[start:stop] = (maps - original[rows]).abs().flatten(1).sum(dim=1)
        return total

    # Step 1: time relevance, one masked copy per (case, window).
    case = torch.arange(n).repeat_interleave(n_windows)
    which = torch.arange(n_windows).repeat(n)
    in_window = (owner[None, :] == which[:, None])[:, None, :]  # (rows, 1, t)
    masked = torch.where(in_window, fill[case], x[case])
    time_raw = change(case, masked).reshape(n, n_windows)
    progress.advance(n * n_windows)
    time_relevance = min_max(time_raw)
    cut = torch.quantile(time_relevance, threshold, dim=1, keepdim=True)
    selected = time_relevance > cut  # (n, windows)

    # Step 2: feature relevance, one masked copy per (case, selected window, channel).
    feature = torch.full((n, n_windows, n_channels), low_feature_relevance)
    pairs = selected.nonzero()  # (m, 2): case, window
    if len(pairs):
        case = pairs[:, 0].repeat_interleave(n_channels)
        which = pairs[:, 1].repeat_interleave(n_channels)
        channel = torch.arange(n_channels).repeat(len(pairs))
        hit = owner[None, :] == which[:, None]  # (rows, t)
        chosen = torch.zeros(len(case), n_channels, 1, dtype=torch.bool)
        chosen[torch.arange(len(case)), channel] = True
        masked = torch.where(chosen & hit[:, None, :], fill[case], x[case])
        raw = change(case, masked).reshape(len(pairs), n_channels)
        feature[pairs[:, 0], pairs[:, 1]] = min_max(raw)
    tsr_windows = time_relevance[:, :, None] * feature  # (n, windows, c)
    attributions = tsr_windows[:, owner].permute(0, 2, 1).contiguous()
    extras["window"] = window
    return MethodResult(
        attributions,
        extras=extras,
        case_extras={
            "time_relevance": time_relevance[:, owner],
            "feature_relevance": feature[:, owner].permute(0, 2, 1).contiguous(),
        },
    )
