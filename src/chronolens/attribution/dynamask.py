"""Dynamask: a mask over channel x time learned so that the kept points preserve the score.

Crabbé and van der Schaar (ICML 2021), "Explaining Time Series Predictions with Dynamic
Masks". Each case gets its own mask ``m`` in [0, 1], shape ``(n_channels, n_timepoints)``,
initialised at ``initial_mask_coef``. A fixed perturbation operator ``Phi(x, m)`` keeps the
points where ``m = 1`` and fades the others to a reference (the channel's mean over time, a
moving average, a Gaussian blur of the series or a baseline). The mask descends

    L(m) = e(m) + lambda_a(k) * ||sort(m) - r_a||^2 / (c t) + lambda_c * mean_t |m(t+1) - m(t)|

with ``e(m) = (s(Phi(x, m)) - s(x))^2`` the squared change of the explained score ``s``, and
``r_a`` the reference vector of the area constraint: ``c t`` values, the first ``(1 - a)`` of
them 0 and the last ``a`` of them 1 (``a = keep_ratio``). Comparing the *sorted* mask with it
asks for a fraction ``a`` of ones and zeros elsewhere without saying where. The area weight
grows geometrically during the fit, from ``size_reg_factor_init`` to ``size_reg_factor_init *
size_reg_factor_dilation`` at the end, so the mask first finds what matters and is then forced
towards a binary mask of the right area. After each step the mask is clipped to [0, 1].
A list of areas fits one mask per area and keeps, per case, the extremal one: the smallest
area whose error is below ``error_threshold`` (the authors' ``MaskGroup``).

In deletion mode (``deletion_mode=True``) the points where ``m = 1`` are *removed* (``Phi(x,
1 - m)``) and the error is maximised (``-e(m)`` in the objective): the mask then marks the
``keep_ratio`` fraction of points whose deletion changes the score most. The map is ``m`` in
both modes (high: important).

Defaults are those of the authors' ``Mask.fit``: 500 steps of SGD with learning rate 0.1 and
momentum 0.9, ``keep_ratio=0.5``, area weight 0.5 dilated by 100, no time penalty, mask
initialised at 0.5; the perturbation defaults to fading to the moving average, as in
time_interpret's ``DynaMask``. The error uses the score ``explain()`` explains (one scalar per
case), where the paper's code compares whole output vectors.

Every case is fitted on its own (its own mask, its own loss, summed over the cases of a
chunk), so a map does not depend on ``batch_size`` or on the other cases.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_bool, check_choice, check_float, check_int
from chronolens.attribution import _mask_perturbations as ops
from chronolens.attribution._mask_optimization import (
    Optimiser,
    final_terms,
    run_steps,
    target_scores,
    time_variation,
    unperturbed_scores,
)
from chronolens.attribution._result import MethodResult
from chronolens.baselines import replacement
from chronolens.models.base import Model
from chronolens.targets import Target

#: The per-case terms recorded in ``case_extras``.
TERMS = ("loss", "error", "area_loss", "time_loss")


def area_reference(n_values: int, keep_ratio: float) -> torch.Tensor:
    """The sorted reference vector ``r_a``: zeros, then ones on the last ``keep_ratio`` share.

    The number of zeros is ``int((1 - keep_ratio) * n_values)``, as in the authors' code.
    """
    reference = torch.zeros(n_values)
    reference[int((1.0 - keep_ratio) * n_values) :] = 1.0
    return reference


def _operator(
    perturbation: str, sigma_max: float, window_size: int, reference: torch.Tensor
) -> Any:
    if perturbation == "gaussian_blur":
        return partial(ops.gaussian_blur, sigma_max=sigma_max)
    if perturbation == "fade_moving_average_window":
        return partial(ops.fade_moving_average_window, window=window_size)
    if perturbation == "fade_reference":
        return lambda x, mask: ops.fade_reference(x, mask, reference)
    return ops.fade_moving_average


def _fit_chunk(
    model: Model,
    x: torch.Tensor,
    target: Target,
    operator: Any,
    settings: dict[str, Any],
    keep_ratio: float,
    progress: Progress,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Fit the masks of one chunk of cases at one area; return them and their final terms."""
    reference_score = unperturbed_scores(model, x, target)
    mask = torch.full_like(x, settings["initial_mask_coef"]).requires_grad_(True)
    r_a = area_reference(x[0].numel(), keep_ratio).to(x.device, x.dtype)
    sign = -1.0 if settings["deletion_mode"] else 1.0
    growth = math.exp(math.log(settings["size_reg_factor_dilation"]) / settings["n_steps"])

    def objective(step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        keep = 1.0 - mask if settings["deletion_mode"] else mask
        error = (target_scores(model, operator(x, keep), target) - reference_score) ** 2
        area = ((r_a - mask.flatten(1).sort(1).values) ** 2).mean(1)
        smooth = time_variation(mask)
        weight = settings["size_reg_factor_init"] * growth**step
        loss = sign * error + weight * area + settings["time_reg_factor"] * smooth
        return loss.sum(), {"loss": loss, "error": error, "area_loss": area, "time_loss": smooth}

    def project() -> None:
        mask.clamp_(0.0, 1.0)

    optimiser = Optimiser([mask], "sgd", settings["learning_rate"], settings["momentum"])
    run_steps(objective, optimiser, settings["n_steps"], progress, len(x), project)
    return mask.detach(), final_terms(objective, settings["n_steps"])


def _fit_areas(
    model: Model,
    x: torch.Tensor,
    target: Target,
    operator: Any,
    settings: dict[str, Any],
    progress: Progress,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Fit one mask per keep ratio and keep, per case, the extremal one.

    The authors' ``MaskGroup.get_extremal_mask``: the smallest area whose final error is below
    ``error_threshold`` (above it in deletion mode); when none is, or no threshold is given,
    the area with the lowest error (highest in deletion mode). Decided case by case.
    """
    ratios = settings["keep_ratio"]
    fits = [_fit_chunk(model, x, target, operator, settings, r, progress) for r in ratios]
    errors = torch.stack([terms["error"] for _, terms in fits])  # (areas, rows)
    ranked = -errors if settings["deletion_mode"] else errors
    best = ranked.argmin(0)  # the first (smallest) area on ties
    threshold = settings["error_threshold"]
    if threshold is not None:
        good = errors > threshold if settings["deletion_mode"] else errors < threshold
        best = torch.where(good.any(0), good.to(torch.int8).argmax(0), best)
    rows = torch.arange(len(x))
    mask = torch.stack([m for m, _ in fits])[best, rows]
    chosen = {key: torch.stack([t[key] for _, t in fits])[best, rows] for key in TERMS}
    chosen["selected_keep_ratio"] = torch.tensor(ratios, dtype=torch.float32)[best.cpu()]
    return mask, chosen


def _keep_ratios(value: Any) -> tuple[float, ...]:
    """``keep_ratio`` as a sorted tuple of areas in (0, 1]."""
    values = [value] if isinstance(value, numbers.Real) else value
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        values = []
    values = list(values)
    if not values:
        raise TypeError(
            f"`keep_ratio` must be a number in (0, 1] or a non-empty list of them; got {value!r}."
        )
    checked = [
        check_float(v, "keep_ratio", minimum=0.0, maximum=1.0, strict_minimum=True) for v in values
    ]
    return tuple(sorted(set(checked)))


def _settings(**values: Any) -> dict[str, Any]:
    """Checked optimisation settings."""
    return {
        "keep_ratio": _keep_ratios(values["keep_ratio"]),
        "error_threshold": None
        if values["error_threshold"] is None
        else check_float(values["error_threshold"], "error_threshold", minimum=0.0),
        "n_steps": check_int(values["n_steps"], "n_steps", minimum=1),
        "learning_rate": check_float(
            values["learning_rate"], "learning_rate", minimum=0.0, strict_minimum=True
        ),
        "momentum": check_float(values["momentum"], "momentum", minimum=0.0, maximum=0.999),
        "size_reg_factor_init": check_float(
            values["size_reg_factor_init"], "size_reg_factor_init", minimum=0.0
        ),
        "size_reg_factor_dilation": check_float(
            values["size_reg_factor_dilation"],
            "size_reg_factor_dilation",
            minimum=0.0,
            strict_minimum=True,
        ),
        "time_reg_factor": check_float(values["time_reg_factor"], "time_reg_factor", minimum=0.0),
        "deletion_mode": check_bool(values["deletion_mode"], "deletion_mode"),
        "initial_mask_coef": check_float(
            values["initial_mask_coef"], "initial_mask_coef", minimum=0.0, maximum=1.0
        ),
    }


def dynamask(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    perturbation: str = "fade_moving_average",
    keep_ratio: float | Sequence[float] = 0.5,
    error_threshold: float | None = None,
    n_steps: int = 500,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    size_reg_factor_init: float = 0.5,
    size_reg_factor_dilation: float = 100.0,
    time_reg_factor: float = 0.0,
    deletion_mode: bool = False,
    initial_mask_coef: float = 0.5,
    sigma_max: float = 2.0,
    window_size: int = 2,
    baseline: Any = "zeros",
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Dynamask: a mask over channel x time fitted per case under an area constraint.

    Parameters
    ----------
    perturbation : {"fade_moving_average", "gaussian_blur", "fade_moving_average_window", \
"fade_reference"}, default="fade_moving_average"
        How a removed point is replaced: its channel's mean over time; a Gaussian blur of width
        ``sigma_max (1 - m)``; the centred moving average over ``2 window_size + 1`` points;
        ``baseline``.
    keep_ratio : float in (0, 1] or sequence of them, default=0.5
        The area ``a``: the share of points the mask should keep (the reference vector's ones).
        A sequence fits one mask per area and keeps, per case, the extremal one (the paper's
        mask group): the smallest area whose error is below ``error_threshold``, else the area
        with the lowest error (highest, in deletion mode).
    error_threshold : float, optional
        The acceptable error ``epsilon`` of that choice (exceeded, in deletion mode).
    n_steps : int, default=500
        Optimisation steps (SGD with momentum).
    learning_rate, momentum : float, default=0.1, 0.9
        The SGD settings.
    size_reg_factor_init, size_reg_factor_dilation : float, default=0.5, 100.0
        The area weight at the first step, and its ratio at the end over the start (geometric
        growth in between).
    time_reg_factor : float, default=0.0
        Weight of the time-smoothness penalty (mean absolute change between time points).
    deletion_mode : bool, default=False
        False: the preservation game (keep the score with few points). True: the deletion game
        (change the score most by removing few points).
    initial_mask_coef : float in [0, 1], default=0.5
        The mask's value before the fit.
    sigma_max : float, default=2.0
        Widest blur, for ``perturbation="gaussian_blur"``.
    window_size : int, default=2
        Half-width of the moving average, for ``perturbation="fade_moving_average_window"``.
    baseline : {"zeros", "mean"}, float or array, default="zeros"
        The reference of ``perturbation="fade_reference"``.

    References
    ----------
    Crabbé, van der Schaar (2021). Explaining time series predictions with dynamic masks.
    ICML.
    """
    perturbation = check_choice(perturbation, "perturbation", ops.PERTURBATIONS)
    settings = _settings(
        keep_ratio=keep_ratio,
        error_threshold=error_threshold,
        n_steps=n_steps,
        learning_rate=learning_rate,
        momentum=momentum,
        size_reg_factor_init=size_reg_factor_init,
        size_reg_factor_dilation=size_reg_factor_dilation,
        time_reg_factor=time_reg_factor,
        deletion_mode=deletion_mode,
        initial_mask_coef=initial_mask_coef,
    )
    sigma_max = check_float(sigma_max, "sigma_max", minimum=0.0, strict_minimum=True)
    window_size = check_int(window_size, "window_size", minimum=1)
    references = replacement(baseline, x, allowed=("zeros", "mean"))
    assert references is not None  # local_mean is not allowed
    n = x.shape[0]
    masks = torch.empty_like(x)
    terms = {key: torch.empty(n) for key in (*TERMS, "selected_keep_ratio")}
    progress.start(n * settings["n_steps"] * len(settings["keep_ratio"]))
    for start, stop in chunks(n, batch_size):
        operator = _operator(perturbation, sigma_max, window_size, references[start:stop])
        masks[start:stop], found = _fit_areas(
            model, x[start:stop], target.take(slice(start, stop)), operator, settings, progress
        )
        for key in terms:
            terms[key][start:stop] = found[key].cpu()
    extras = {
        "n_steps": settings["n_steps"],
        "keep_ratio": list(settings["keep_ratio"]),
        "perturbation": perturbation,
        "final_size_reg_factor": settings["size_reg_factor_init"]
        * settings["size_reg_factor_dilation"],
    }
    return MethodResult(masks, extras=extras, case_extras=terms)
