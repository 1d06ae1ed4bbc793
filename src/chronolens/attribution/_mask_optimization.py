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

import math
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


class Optimiser:
    """Adam or SGD with momentum, element by element, with PyTorch's update rules.

    Written here rather than taken from ``torch.optim``, whose first use imports the compiler
    stack (seconds); the updates are those of ``torch.optim.Adam`` (no weight decay) and
    ``torch.optim.SGD`` (no dampening, no Nesterov).

    Parameters
    ----------
    parameters : sequence of torch.Tensor
        Leaf tensors with ``requires_grad``.
    name : {"adam", "sgd"}
        The rule.
    learning_rate : float
        Step size.
    momentum : float, default=0.0
        SGD's momentum.
    betas : tuple of float, default=(0.9, 0.999)
        Adam's decay rates.
    eps : float, default=1e-8
        Adam's denominator guard.
    """

    def __init__(
        self,
        parameters: Sequence[torch.Tensor],
        name: str,
        learning_rate: float,
        momentum: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.parameters = list(parameters)
        self.name, self.learning_rate, self.momentum = name, learning_rate, momentum
        self.betas, self.eps = betas, eps
        self.first: list[torch.Tensor | None] = [None] * len(self.parameters)
        self.second: list[torch.Tensor | None] = [None] * len(self.parameters)
        self.steps = 0

    def zero_grad(self) -> None:
        """Forget the gradients of the last step."""
        for parameter in self.parameters:
            parameter.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter from its ``.grad``."""
        self.steps += 1
        for i, parameter in enumerate(self.parameters):
            grad = parameter.grad
            if grad is None:
                continue
            if self.name == "adam":
                self._adam(i, parameter, grad)
            else:
                buffer = self.first[i]
                buffer = grad.clone() if buffer is None else buffer.mul_(self.momentum).add_(grad)
                self.first[i] = buffer
                parameter.sub_(self.learning_rate * buffer)

    def _adam(self, i: int, parameter: torch.Tensor, grad: torch.Tensor) -> None:
        beta_1, beta_2 = self.betas
        first = self.first[i]
        second = self.second[i]
        first = torch.zeros_like(grad) if first is None else first
        second = torch.zeros_like(grad) if second is None else second
        first.mul_(beta_1).add_(grad, alpha=1.0 - beta_1)
        second.mul_(beta_2).addcmul_(grad, grad, value=1.0 - beta_2)
        self.first[i], self.second[i] = first, second
        correction_1 = 1.0 - beta_1**self.steps
        correction_2 = 1.0 - beta_2**self.steps
        denominator = (second.sqrt() / math.sqrt(correction_2)).add_(self.eps)
        parameter.addcdiv_(first, denominator, value=-self.learning_rate / correction_1)


def run_steps(
    objective: Objective,
    optimiser: Optimiser,
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
            optimiser.zero_grad()
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
