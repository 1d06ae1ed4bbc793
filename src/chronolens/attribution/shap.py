"""Shapley values over segment x channel players: exact enumeration or Kernel SHAP."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_choice, check_int, resolve_seed
from chronolens.attribution._result import MethodResult
from chronolens.attribution._segments import CHANNEL_MODES, equal_segments
from chronolens.baselines import replacement, window_means
from chronolens.models.base import Model
from chronolens.targets import Target

EXACT_PLAYERS = 12


def _coalition_values(
    model: Model,
    x: torch.Tensor,
    base: torch.Tensor,
    target: Target,
    coalitions: torch.Tensor,
    player_masks: torch.Tensor,
    batch_size: int,
    progress: Progress,
) -> torch.Tensor:
    """Target score of every case with only each coalition's players present, (n, k)."""
    n = x.shape[0]
    k = len(coalitions)
    flat_masks = player_masks.reshape(len(player_masks), -1).float()
    values = torch.empty(n, k)
    progress.start(n * k)
    with torch.inference_mode():
        for start, stop in chunks(n * k, batch_size):
            rows = torch.arange(start, stop)
            case, coalition = rows // k, rows % k
            present = (coalitions[coalition].float() @ flat_masks).reshape(-1, *x.shape[1:]) > 0.5
            series = torch.where(present, x[case], base[case])
            values[case, coalition] = target.take(case).select(model.scores(series)).float().cpu()
            progress.advance(stop - start)
    return values


def _exact(values: torch.Tensor, n_players: int) -> torch.Tensor:
    """Shapley values from the values of all 2**M coalitions (coalition bit i = player i)."""
    index = np.arange(2**n_players)
    sizes = np.array([bin(i).count("1") for i in index])
    weight = np.array(
        [
            math.factorial(s) * math.factorial(n_players - s - 1) / math.factorial(n_players)
            if s < n_players
            else 0.0
            for s in sizes
        ]
    )
    phi = torch.zeros(values.shape[0], n_players, dtype=torch.float64)
    v = values.double()
    for player in range(n_players):
        without = index[(index >> player) & 1 == 0]
        gain = v[:, without | (1 << player)] - v[:, without]
        phi[:, player] = gain @ torch.from_numpy(weight[without])
    return phi.float()


def _kernel_coalitions(n_players: int, n_samples: int, seed: int) -> np.ndarray:
    """Coalitions drawn with the Shapley kernel's size distribution, in complementary pairs."""
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, n_players)
    probability = (n_players - 1) / (sizes * (n_players - sizes))
    probability /= probability.sum()
    half = max(1, n_samples // 2)
    drawn = rng.choice(sizes, size=half, p=probability)
    coalitions = np.zeros((half, n_players), dtype=bool)
    for row, size in enumerate(drawn):
        coalitions[row, rng.choice(n_players, size=size, replace=False)] = True
    return np.concatenate([coalitions, ~coalitions])


def _kernel_shap(
    values: torch.Tensor, coalitions: np.ndarray, v_empty: torch.Tensor, v_full: torch.Tensor
) -> torch.Tensor:
    """Weighted least squares under the efficiency constraint (samples drawn by kernel weight).

    With coalitions sampled in proportion to the Shapley kernel, every sample weighs the same;
    the constraint ``sum(phi) = v(full) - v(empty)`` is imposed exactly by eliminating the last
    player.
    """
    z = torch.from_numpy(coalitions.astype(np.float64))
    total = (v_full - v_empty).double()
    y = values.double().T - v_empty.double()[None] - z[:, -1:] * total[None]
    design = z[:, :-1] - z[:, -1:]
    # One pseudo-inverse for all cases: a case's values do not depend on the others.
    solution = torch.linalg.pinv(design) @ y  # (M - 1, n)
    last = total - solution.sum(dim=0)
    return torch.cat([solution.T, last[:, None]], dim=1).float()


def shapley(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    n_segments: int = 10,
    channels: str = "each",
    baseline: Any = "zeros",
    n_samples: int = 1000,
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Shapley values of segment x channel players, spread evenly over each segment's points.

    Each channel is cut into ``n_segments`` equal segments; every (segment, channel) pair is a
    player (every segment is one, across channels, with ``channels="all"``). A coalition's value
    is the target score with the absent players' points replaced by the baseline. With at most
    12 players the Shapley values are exact (all ``2**M`` coalitions); beyond, Kernel SHAP
    estimates them from ``n_samples`` coalitions drawn with the Shapley kernel in complementary
    pairs, under the exact efficiency constraint. A player's value is divided evenly among its
    points, so the map sums to ``f(x) - f(baseline)``; the base value ``f(baseline)`` is in
    ``extras["base_value"]`` and the map plus it sums to the model's score.

    Parameters
    ----------
    n_segments : int, default=10
        Segments per channel.
    channels : {"each", "all"}, default="each"
        Players per (segment, channel), or per segment across all channels.
    baseline : {"zeros", "mean", "noise", "local_mean"}, float or array, default="zeros"
        Values of absent players (``"local_mean"``: each segment's own mean).
    n_samples : int, default=1000
        Coalitions for Kernel SHAP (unused when the values are exact).
    seed : int, optional
        Seed of the coalition sampling (and of the ``"noise"`` baseline).

    References
    ----------
    Lundberg, Lee (2017). A unified approach to interpreting model predictions. NeurIPS.
    """
    check_choice(channels, "channels", CHANNEL_MODES)
    n_samples = check_int(n_samples, "n_samples", minimum=2)
    _, n_channels, n_timepoints = x.shape
    players = equal_segments(n_channels, n_timepoints, n_segments, channels)
    masks = torch.from_numpy(players.masks(n_channels, n_timepoints))
    seed = resolve_seed(seed)  # first: the noise baseline and the coalitions share it
    values = replacement(baseline, x, seed=seed)
    if values is None:  # "local_mean": each segment's own mean, per channel
        lengths = players.stop[:n_segments] - players.start[:n_segments]
        owner = np.repeat(np.arange(len(lengths)), lengths)
        values = window_means(x, owner)
    n_players = len(players)
    exact = n_players <= EXACT_PLAYERS
    if not exact and n_samples < n_players:
        raise ValueError(
            f"`n_samples`={n_samples} coalitions cannot estimate {n_players} Shapley values: "
            "Kernel SHAP solves one equation per coalition for one value per player, so fewer "
            f"coalitions than players leave the values undetermined (noise). Pass n_samples >= "
            f"{n_players} (several times more for stable values; the default is 1000), or use "
            "fewer players: a smaller n_segments, or channels='all'."
        )
    if exact:
        index = np.arange(2**n_players)
        coalitions = (index[:, None] >> np.arange(n_players)) & 1 == 1
    else:
        coalitions = _kernel_coalitions(n_players, n_samples, seed)
        ends = np.zeros((2, n_players), dtype=bool)
        ends[1] = True
        coalitions = np.concatenate([ends, coalitions])
    values = _coalition_values(
        model, x, values, target, torch.from_numpy(coalitions), masks, batch_size, progress
    )
    if exact:
        phi = _exact(values, n_players)
        v_empty, v_full = values[:, 0], values[:, -1]
    else:
        v_empty, v_full = values[:, 0], values[:, 1]
        phi = _kernel_shap(values[:, 2:], coalitions[2:], v_empty, v_full)
    sizes = masks.reshape(n_players, -1).sum(dim=1).float()
    attributions = (phi / sizes) @ masks.reshape(n_players, -1).float()
    attributions = attributions.reshape(x.shape[0], n_channels, n_timepoints)
    if channels == "all":
        attributions = attributions[:, :1] * n_channels
    return MethodResult(
        attributions,
        extras={"exact": exact, "n_players": n_players, "seed": seed},
        case_extras={"base_value": v_empty, "player_values": phi},
    )
