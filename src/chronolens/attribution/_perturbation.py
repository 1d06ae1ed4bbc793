"""Batched evaluation of perturbed series (the perturbation engine).

Every perturbation method reduces to: for each case and each perturbation (an interval of time in
one channel or in all channels), how much the target score drops when those values are replaced
by a baseline (:mod:`chronolens.baselines`). :func:`score_drops` computes that matrix
``(n_cases, n_perturbations)``, batching (case, perturbation) pairs as rows, under
``torch.inference_mode``. For convolutional PyTorch models it uses an exact incremental engine:
:mod:`chronolens.attribution._incremental` (chains) or
:mod:`chronolens.attribution._incremental_graph` (traced graphs).
"""

from __future__ import annotations

import torch

from chronolens._batching import chunks
from chronolens._progress import Progress
from chronolens.attribution._common import selected_scores
from chronolens.attribution._incremental import IncrementalPlan, incremental_plan
from chronolens.attribution._incremental_graph import GraphPlan, graph_plan
from chronolens.attribution._segments import Perturbations
from chronolens.baselines import interval_means
from chronolens.models.base import Model
from chronolens.targets import Target


def perturb(
    x: torch.Tensor,
    case: torch.Tensor,
    index: torch.Tensor,
    perturbations: Perturbations,
    replacement: torch.Tensor | None,
) -> torch.Tensor:
    """Full perturbed series for rows ``(case[r], perturbation index[r])``, shape (rows, c, t)."""
    _, n_channels, n_timepoints = x.shape
    masks = torch.from_numpy(perturbations.masks(n_channels, n_timepoints, index.numpy()))
    series = x[case]
    if replacement is None:  # local mean: each replaced channel takes its mean over the interval
        start = torch.from_numpy(perturbations.start)[index]
        stop = torch.from_numpy(perturbations.stop)[index]
        local = interval_means(x, case, start, stop)[:, :, None]
        return torch.where(masks, local.expand_as(series), series)
    return torch.where(masks, replacement[case], series)


def score_drops(
    model: Model,
    x: torch.Tensor,
    target: Target,
    perturbations: Perturbations,
    replacement: torch.Tensor | None,
    batch_size: int,
    progress: Progress,
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``f(x) - f(x perturbed)`` for every case and perturbation, shape (n, m).

    Returns
    -------
    drops : torch.Tensor of shape (n_cases, n_perturbations)
    scores : torch.Tensor of shape (n_cases,)
        The unperturbed target scores.
    path : {"incremental-chain", "incremental-graph", "full"}
        Which engine ran: the chain engine (:mod:`chronolens.attribution._incremental`) for a
        model that is a line of local layers and an affine head, the graph engine
        (:mod:`chronolens.attribution._incremental_graph`) for a traced graph of known
        operations (residual shortcuts, branches, ``torch.export`` programs), else full
        recomputation.
    """
    n, m = x.shape[0], len(perturbations)
    plan: IncrementalPlan | GraphPlan | None = incremental_plan(
        model, target, x.shape[1], x.shape[2]
    )
    path = "incremental-chain"
    if plan is None and n and m:
        plan, path = graph_plan(model, x), "incremental-graph"
    progress.start(n * m)
    if plan is not None:
        with torch.inference_mode():
            drops, scores = plan.score_drops(
                x, target, perturbations, replacement, batch_size, progress
            )
        return drops, scores, path
    scores = selected_scores(model, x, target, batch_size)
    drops = torch.empty(n, m)
    with torch.inference_mode():
        for start, stop in chunks(n * m, batch_size):
            rows = torch.arange(start, stop)
            case, index = rows // m, rows % m
            series = perturb(x, case, index, perturbations, replacement)
            perturbed = target.take(case).select(model.scores(series)).float().cpu()
            drops[case, index] = scores[case] - perturbed
            progress.advance(stop - start)
    return drops, scores, "full"
