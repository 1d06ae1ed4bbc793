"""The optimisation loop shared by the learned-mask methods (Dynamask, ExtremalMask).

A mask method perturbs each case with a mask (and, for ExtremalMask, a learned replacement),
scores the perturbed series with the model and descends a per-case objective. The model is
reached only through the protocol: ``model.gradient`` returns the target score per row and
d score / d input, and the chain rule joins that to the graph torch builds on the mask side
(:func:`target_scores`), so the same loop runs on torch modules and on Keras models on every
backend, whose gradients come back as torch tensors.

Every case owns its own parameters and its loss is summed over cases, never averaged over
the batch, so each case's gradients come from its own loss only. Adam and SGD with momentum
update each parameter element by element, so a case's mask is the same alone or inside a
batch of any size (up to float tolerance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from chronolens._progress import Progress
from chronolens.models.base import Model
from chronolens.targets import Target

#: One optimisation step: step index -> (summed loss to descend, per-case terms to record).
Objective = Callable[[int], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def target_scores(model: Model, perturbed: torch.Tensor, target: Target) -> torch.Tensor:
    """The target score of every row of ``perturbed``, differentiable with respect to it.

    The value is the model's score; its gradient with respect to ``perturbed`` is the model's
    input gradient (from ``model.gradient``), attached by the surrogate
    ``score + <grad, perturbed - perturbed.detach()>``, whose value is the score and whose
    derivative is ``grad``.
    """
    scores, grad, _ = model.gradient(perturbed.detach(), target)
    scores = scores.to(perturbed.device, perturbed.dtype)
    grad = grad.to(perturbed.device, perturbed.dtype)
    shift = perturbed - perturbed.detach()
    return scores + (grad * shift).flatten(1).sum(1)


def unperturbed_scores(model: Model, x: torch.Tensor, target: Target) -> torch.Tensor:
    """The target score of every row of ``x``, without a graph."""
    return target.select(model.scores(x)).detach().to(x.device, x.dtype)


def make_optimiser(
    parameters: Sequence[torch.Tensor], name: str, learning_rate: float, momentum: float = 0.0
) -> torch.optim.Optimizer:
    """Adam (``"adam"``) or SGD with momentum (``"sgd"``) over the per-case parameters."""
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate)
    return torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum)


def run_steps(
    objective: Objective,
    optimiser: torch.optim.Optimizer,
    n_steps: int,
    progress: Progress,
    rows: int,
    project: Callable[[], None],
) -> None:
    """Descend ``objective`` for ``n_steps`` steps, ticking ``progress`` by ``rows`` per step.

    After each step ``project`` puts the parameters back in their domain (the mask in [0, 1]).
    """
    with torch.inference_mode(False), torch.enable_grad():
        for step in range(n_steps):
            optimiser.zero_grad(set_to_none=True)
            loss, _ = objective(step)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                project()
            progress.advance(rows)


def final_terms(objective: Objective, step: int) -> dict[str, torch.Tensor]:
    """The per-case terms of ``objective`` at the current parameters (no update)."""
    with torch.inference_mode(False), torch.enable_grad():
        _, terms = objective(step)
    return {key: value.detach() for key, value in terms.items()}


def time_variation(mask: torch.Tensor) -> torch.Tensor:
    """Per case: the mean absolute change of the mask between consecutive time points."""
    if mask.shape[-1] < 2:
        return mask.new_zeros(mask.shape[0])
    return (mask[..., 1:] - mask[..., :-1]).abs().flatten(1).mean(1)
