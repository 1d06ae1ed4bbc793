"""What a method returns: attributions plus optional outputs for ``Explanation.extras``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class MethodResult:
    """Attributions of shape (n_cases, n_channels or 1, n_timepoints) and extras.

    ``extras`` hold values about the whole run (the layer used, the seed); ``case_extras`` hold
    arrays whose first axis is the case axis (IG's convergence delta, a CAM's map on the layer's
    own time axis), which an Explanation slices along with its cases.
    """

    attributions: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)
    case_extras: dict[str, torch.Tensor] = field(default_factory=dict)
