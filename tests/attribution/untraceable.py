"""A model behind a forward that torch.fx cannot trace: the full-recomputation reference path."""

import torch
from torch import nn


class Untraceable(nn.Module):
    """The same model behind a forward the incremental analysis cannot see into.

    The Python branch on a shape makes the forward untraceable by torch.fx, so chronolens
    recomputes every perturbed series in full.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= 0:  # data-dependent Python: torch.fx cannot trace it
            return self.model(x)
        raise AssertionError("unreachable")
