"""Dynamask's fixed perturbation operators: a mask in [0, 1] fades each point to a reference.

Each operator takes the series ``x`` and a keep-mask ``m`` of the same shape ``(n, c, t)``:
``m = 1`` keeps the point, ``m = 0`` replaces it entirely (Crabbé and van der Schaar 2021,
section 3.1). All are per case and per channel, so a case's perturbation never depends on the
other cases.
"""

from __future__ import annotations

import torch

#: The operators, by the names ``dynamask(perturbation=...)`` takes.
PERTURBATIONS = (
    "fade_moving_average",
    "gaussian_blur",
    "fade_moving_average_window",
    "fade_reference",
)

#: Keeps the blur width positive where the mask is 1 (the paper's epsilon).
EPS = 1e-7


def fade_moving_average(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``m x + (1 - m) mean_t(x)``: fade each point to its channel's mean over time."""
    return mask * x + (1.0 - mask) * x.mean(-1, keepdim=True)


def fade_moving_average_window(x: torch.Tensor, mask: torch.Tensor, window: int) -> torch.Tensor:
    """``a + m (x - a)``, ``a`` the centred moving average over ``2 window + 1`` points.

    Points beyond the ends count as 0 (the paper's operator divides by ``2 window + 1``
    everywhere).
    """
    t = torch.arange(x.shape[-1], device=x.device)
    weights = ((t[:, None] - t[None, :]).abs() <= window).to(x.dtype) / (2 * window + 1)
    average = torch.einsum("nct,ts->ncs", x, weights)
    return average + mask * (x - average)


def gaussian_blur(x: torch.Tensor, mask: torch.Tensor, sigma_max: float) -> torch.Tensor:
    """Blur each point with a Gaussian over time of width ``sigma_max (1 + eps - m)``.

    Point ``t`` becomes ``sum_s w(s, t) x(s) / sum_s w(s, t)`` with ``w(s, t) = exp(-(s - t)^2 /
    (2 sigma(t)^2))``: a kept point (``m = 1``) is left almost unchanged, a removed one is
    averaged over about ``sigma_max`` neighbours. Memory: ``n c t^2`` values per call.
    """
    t = torch.arange(x.shape[-1], device=x.device, dtype=x.dtype)
    sigma = sigma_max * ((1.0 + EPS) - mask)  # (n, c, t)
    squared = (t[:, None] - t[None, :]) ** 2  # (s, t)
    weights = torch.exp(-squared[None, None] / (2.0 * sigma[:, :, None, :] ** 2))  # (n, c, s, t)
    weights = weights / (weights.sum(2, keepdim=True) + EPS)
    return torch.einsum("ncst,ncs->nct", weights, x)


def fade_reference(x: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``b + m (x - b)``: fade each point to the baseline ``b``."""
    return reference + mask * (x - reference)
