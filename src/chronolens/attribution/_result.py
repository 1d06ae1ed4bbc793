"""What a method returns: attributions plus optional outputs for ``Explanation.extras``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch

if TYPE_CHECKING:
    from chronolens._progress import Progress
    from chronolens.targets import Target


@dataclass
class MethodResult:
    """Attributions of shape (n_cases, n_channels or 1, n_timepoints) and extras.

    ``extras`` hold values about the whole run (the layer used, the seed); ``case_extras`` hold
    arrays whose first axis is the case axis (IG's convergence delta, a CAM's map on the layer's
    own time axis), which an Explanation slices along with its cases. ``output`` is the raw
    model output for the unperturbed cases when the method computed it anyway (gradient and
    Grad-CAM passes at the input): ``explain()`` then needs no separate forward pass.
    """

    attributions: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)
    case_extras: dict[str, torch.Tensor] = field(default_factory=dict)
    output: Any = None


class BoundCall(Protocol):
    """A registered method bound to a model (what wrapper methods such as ``tsr`` receive)."""

    @property
    def name(self) -> str:
        """The method's registered name."""
        ...

    @property
    def layer(self) -> str | None:
        """The layer it reads, if any."""
        ...

    @property
    def seed(self) -> int | None:
        """Its seed, if randomized."""
        ...

    @property
    def randomized(self) -> bool:
        """True when its map depends on the seed."""
        ...

    def __call__(
        self, x: torch.Tensor, target: Target, *, batch_size: int, progress: Progress = ...
    ) -> MethodResult:
        """Run the method on ``x``."""
        ...
