"""ExtremalMask: a mask over channel x time learned together with the perturbation it applies.

Enguehard (ICML 2023), "Learning Perturbations to Explain Time Series Predictions". Where
Dynamask fades removed points to a fixed reference, ExtremalMask learns the replacement too:
a small network ``NN`` (a bidirectional GRU and a linear readout, see
:mod:`chronolens.attribution._perturbation_network`) reads the series and proposes a value for
every point. Each case's mask ``m`` in [0, 1] (initialised at 0.5) and its network are fitted
together, in the preservation game, by descending

    L(m, NN) = (s(x m + (1 - m) NN(x - b)) - s(x))^2 + lambda_1 mean |m| + lambda_2 mean |NN(x - b)|

with ``s`` the explained score and ``b`` the baseline (zeros by default, so ``NN`` reads the
series itself). The kept points (``m = 1``) are the series' own values; only the removed part
is replaced, by the learned values, and the last term keeps those close to the baseline so the
network cannot rebuild the removed evidence. The map is ``m``, clipped to [0, 1] after each
step.

Defaults are those of the paper's experiments (time_interpret's ``ExtremalMaskNet`` as used
there): 500 steps of Adam with learning rate 0.01, ``lambda_1 = lambda_2 = 1``, a GRU with as
many hidden units as the series has channels. The error uses the score ``explain()`` explains
(one scalar per case), where time_interpret compares whole output vectors.

Every case owns its mask and its network (all networks start from the same draw of
``seed``), and the losses are summed over cases, never averaged over the batch: a case's map
does not depend on ``batch_size`` or on the other cases.
"""

from __future__ import annotations

from typing import Any

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_float, check_int, resolve_seed
from chronolens.attribution import _perturbation_network as network
from chronolens.attribution._mask_optimization import (
    Optimiser,
    final_terms,
    run_steps,
    target_scores,
    unperturbed_scores,
)
from chronolens.attribution._result import MethodResult
from chronolens.baselines import replacement
from chronolens.models.base import Model
from chronolens.targets import Target

#: The per-case terms recorded in ``case_extras``.
TERMS = ("loss", "error", "mask_loss", "perturbation_loss")


def perturbed_input(x: torch.Tensor, mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``x m + (1 - m) values``: the kept part of ``x``, the learned values elsewhere."""
    return x * mask + (1.0 - mask) * values


def _fit_chunk(
    model: Model,
    x: torch.Tensor,
    baseline: torch.Tensor,
    target: Target,
    settings: dict[str, Any],
    progress: Progress,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Fit one chunk's masks and networks; return the masks, replacements and final terms."""
    reference_score = unperturbed_scores(model, x, target)
    mask = torch.full_like(x, 0.5).requires_grad_(True)
    start = network.initial_weights(x.shape[1], settings["hidden_size"], settings["seed"])
    weights = network.per_case({k: v.to(x.device, x.dtype) for k, v in start.items()}, len(x))
    inputs = x - baseline
    lambda_1, lambda_2 = settings["lambda_1"], settings["lambda_2"]
    found: dict[str, torch.Tensor] = {}

    def objective(step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        values = network.replacement_values(inputs, weights)
        scores = target_scores(model, perturbed_input(x, mask, values), target)
        error = (scores - reference_score) ** 2
        mask_loss = lambda_1 * mask.abs().flatten(1).mean(1)
        perturbation_loss = lambda_2 * values.abs().flatten(1).mean(1)
        loss = error + mask_loss + perturbation_loss
        found["replacement"] = values
        terms = {"loss": loss, "error": error, "mask_loss": mask_loss}
        return loss.sum(), {**terms, "perturbation_loss": perturbation_loss}

    def project() -> None:
        mask.clamp_(0.0, 1.0)

    parameters = [mask, *weights.values()]
    optimiser = Optimiser(parameters, "adam", settings["learning_rate"])
    run_steps(objective, optimiser, settings["n_steps"], progress, len(x), project)
    terms = final_terms(objective, settings["n_steps"])
    return mask.detach(), found["replacement"].detach(), terms


def extremal_mask(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    n_steps: int = 500,
    learning_rate: float = 0.01,
    lambda_1: float = 1.0,
    lambda_2: float = 1.0,
    hidden_size: int | None = None,
    baseline: Any = "zeros",
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """ExtremalMask: a mask and a learned replacement (a bidirectional GRU) fitted per case.

    Parameters
    ----------
    n_steps : int, default=500
        Optimisation steps (Adam, on the mask and the network together).
    learning_rate : float, default=0.01
        Adam's learning rate.
    lambda_1 : float, default=1.0
        Weight of the mask's mean absolute value (few kept points).
    lambda_2 : float, default=1.0
        Weight of the replacement's mean absolute value (replacements close to the baseline).
    hidden_size : int, optional
        Hidden units of the GRU, each way. None: the number of channels.
    baseline : {"zeros", "mean"}, float or array, default="zeros"
        ``b``: the network reads ``x - b`` and its output is penalised towards 0.
    seed : int or None, default=None
        Seed of the network's initial weights (the same for every case).

    References
    ----------
    Enguehard (2023). Learning perturbations to explain time series predictions. ICML.
    Fong, Patrick, Vedaldi (2019). Understanding deep networks via extremal perturbations and
    smooth masks. ICCV.
    """
    settings: dict[str, Any] = {
        "n_steps": check_int(n_steps, "n_steps", minimum=1),
        "learning_rate": check_float(
            learning_rate, "learning_rate", minimum=0.0, strict_minimum=True
        ),
        "lambda_1": check_float(lambda_1, "lambda_1", minimum=0.0),
        "lambda_2": check_float(lambda_2, "lambda_2", minimum=0.0),
        "hidden_size": x.shape[1]
        if hidden_size is None
        else check_int(hidden_size, "hidden_size", minimum=1),
        "seed": resolve_seed(seed),
    }
    references = replacement(baseline, x, allowed=("zeros", "mean"))
    assert references is not None  # local_mean is not allowed
    n = x.shape[0]
    masks, replacements = torch.empty_like(x), torch.empty_like(x)
    terms = {key: torch.empty(n) for key in TERMS}
    progress.start(n * settings["n_steps"])
    for start, stop in chunks(n, batch_size):
        masks[start:stop], replacements[start:stop], found = _fit_chunk(
            model,
            x[start:stop],
            references[start:stop],
            target.take(slice(start, stop)),
            settings,
            progress,
        )
        for key in TERMS:
            terms[key][start:stop] = found[key].cpu()
    extras = {
        "seed": settings["seed"],
        "n_steps": settings["n_steps"],
        "hidden_size": settings["hidden_size"],
    }
    return MethodResult(masks, extras=extras, case_extras={**terms, "replacement": replacements})
