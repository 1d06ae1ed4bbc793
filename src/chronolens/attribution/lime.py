"""LIME over segment x channel players: a kernel-weighted linear surrogate of the model.

The players are those of :func:`chronolens.attribution.shap.shapley` (equal time segments, per
channel or across channels). Random coalitions switch players off (their points replaced by the
baseline); a ridge regression of the target score on which players are present, each sample
weighted by its closeness to the full series, gives one coefficient per player: its local
effect. Only the model's predictions are used, so black boxes work.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from chronolens._progress import SILENT, Progress
from chronolens._validation import check_choice, check_float, check_int, resolve_seed
from chronolens.attribution._result import MethodResult
from chronolens.attribution._segments import CHANNEL_MODES, equal_segments
from chronolens.attribution.shap import _coalition_values
from chronolens.baselines import replacement, window_means
from chronolens.models.base import Model
from chronolens.targets import Target


def lime_coalitions(n_players: int, n_samples: int, seed: int) -> np.ndarray:
    """The full coalition first, then ``n_samples - 1`` uniform random ones (LIME's sampling)."""
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, 2, size=(n_samples - 1, n_players)).astype(bool)
    return np.concatenate([np.ones((1, n_players), dtype=bool), drawn])


def lime_weights(coalitions: np.ndarray, kernel_width: float) -> np.ndarray:
    """``sqrt(exp(-d**2 / width**2))`` of each coalition's cosine distance to the full one."""
    z = coalitions.astype(np.float64)
    norms = np.linalg.norm(z, axis=1) * np.sqrt(z.shape[1])
    cosine = np.divide(z.sum(axis=1), norms, out=np.zeros(len(z)), where=norms > 0)
    distance = 1.0 - cosine
    return np.sqrt(np.exp(-(distance**2) / kernel_width**2))


def weighted_ridge(
    z: np.ndarray, y: np.ndarray, weights: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (n, M) and intercepts (n,) of ``y ~ z`` by weighted ridge, intercept free.

    The weighted means are removed first, so the intercept is not penalised (as scikit-learn's
    ``Ridge(fit_intercept=True)`` with ``sample_weight`` does).
    """
    w = weights / weights.sum()
    z_mean = w @ z
    y_mean = y @ w  # (n,)
    zc = (z - z_mean) * np.sqrt(w)[:, None]
    yc = (y - y_mean[:, None]) * np.sqrt(w)[None, :]
    gram = zc.T @ zc + (alpha / weights.sum()) * np.eye(z.shape[1])
    coef = np.linalg.lstsq(gram, zc.T @ yc.T, rcond=None)[0].T  # (n, M)
    return coef, y_mean - coef @ z_mean


def lime(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    n_segments: int = 10,
    channels: str = "each",
    baseline: Any = "zeros",
    n_samples: int = 1000,
    kernel_width: float = 0.25,
    alpha: float = 1.0,
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """LIME: a ridge surrogate's coefficient per segment x channel player, spread over its points.

    ``n_samples`` coalitions (the first is every player present; the others uniform random, as
    LIME samples) are scored; a coalition's weight is ``sqrt(exp(-d**2 / kernel_width**2))``
    with ``d`` its cosine distance to the full coalition (LIME's defaults for images). The
    surrogate is a ridge regression with penalty ``alpha`` (LIME's default 1.0) and a free
    intercept; a player's coefficient is divided evenly among its points.

    Parameters
    ----------
    n_segments : int, default=10
        Segments per channel.
    channels : {"each", "all"}, default="each"
        Players per (segment, channel), or per segment across all channels.
    baseline : {"zeros", "mean", "noise", "local_mean"}, float or array, default="zeros"
        Values of absent players.
    n_samples : int, default=1000
        Coalitions scored (LIME's ``num_samples``).
    kernel_width : float, default=0.25
        Width of the exponential kernel on the cosine distance.
    alpha : float, default=1.0
        Ridge penalty; 0 gives weighted least squares (exact for a model additive in players).
    seed : int, optional
        Seed of the coalitions (and of the ``"noise"`` baseline).

    References
    ----------
    Ribeiro, Singh, Guestrin (2016). "Why should I trust you?": explaining the predictions of
    any classifier. KDD.
    """
    check_choice(channels, "channels", CHANNEL_MODES)
    n_samples = check_int(n_samples, "n_samples", minimum=2)
    kernel_width = check_float(kernel_width, "kernel_width", minimum=0.0, strict_minimum=True)
    alpha = check_float(alpha, "alpha", minimum=0.0)
    _, n_channels, n_timepoints = x.shape
    players = equal_segments(n_channels, n_timepoints, n_segments, channels)
    masks = torch.from_numpy(players.masks(n_channels, n_timepoints))
    seed = resolve_seed(seed)
    values = replacement(baseline, x, seed=seed)
    if values is None:  # "local_mean": each segment's own mean, per channel
        lengths = players.stop[:n_segments] - players.start[:n_segments]
        values = window_means(x, np.repeat(np.arange(len(lengths)), lengths))
    coalitions = lime_coalitions(len(players), n_samples, seed)
    scores = _coalition_values(
        model, x, values, target, torch.from_numpy(coalitions), masks, batch_size, progress
    )
    weights = lime_weights(coalitions, kernel_width)
    coef, intercept = weighted_ridge(
        coalitions.astype(np.float64), scores.double().numpy(), weights, alpha
    )
    flat = masks.reshape(len(players), -1).double()
    attributions = (torch.from_numpy(coef) / flat.sum(dim=1)) @ flat
    attributions = attributions.reshape(x.shape[0], n_channels, n_timepoints).float()
    if channels == "all":
        attributions = attributions[:, :1] * n_channels
    return MethodResult(
        attributions,
        extras={"seed": seed, "n_players": len(players)},
        case_extras={
            "player_values": torch.from_numpy(coef).float(),
            "intercept": torch.from_numpy(intercept).float(),
        },
    )
