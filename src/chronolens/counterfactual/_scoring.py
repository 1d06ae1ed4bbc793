"""The model as counterfactual search sees it: class scores and probabilities of NumPy cases.

Both methods only query the model (:meth:`chronolens.models.Model.scores`), so they work on
torch modules, Keras models of any backend and black boxes alike. A single-column output (a
binary head) is read as two classes: ``[1 - p, p]`` for probabilities, ``[0, logit]`` for
logits (whose softmax is the sigmoid).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from chronolens.models.base import Model

__all__ = ["Scorer", "as_probabilities"]


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Rows that already are probabilities stay; others go through a softmax."""
    if (
        np.all(scores >= 0)
        and np.all(scores <= 1)
        and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4)
    ):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class Scorer:
    """Batched class scores of an adapted model; counts its calls."""

    def __init__(self, model: Model, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size
        self.calls = 0

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Raw class scores (rows, n_classes) of ``x`` (rows, c, t) as float64."""
        parts = []
        for start in range(0, len(x), self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(x[start : start + self.batch_size]))
            output: Any = self.model.scores(chunk.to(self.model.device))
            self.calls += 1
            if not isinstance(output, torch.Tensor) or output.ndim != 2:
                raise ValueError(
                    "counterfactual() needs a classifier whose output is class scores of shape "
                    f"(n_cases, n_classes); this model returned {type(output).__name__}"
                    f"{tuple(output.shape) if isinstance(output, torch.Tensor) else ''}."
                )
            values = output.detach().to("cpu", torch.float64).numpy()
            if values.shape[1] == 1:
                column = values[:, 0]
                binary = bool(np.all((column >= 0) & (column <= 1)))
                values = np.stack([1 - column if binary else np.zeros_like(column), column], 1)
            parts.append(values)
        return np.concatenate(parts) if parts else np.zeros((0, 0))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (rows, n_classes): the output itself or its softmax."""
        return as_probabilities(self.scores(x))
