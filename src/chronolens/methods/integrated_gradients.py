"""Integrated Gradients with Riemann or Gauss-Legendre quadrature."""

from __future__ import annotations

from typing import Any

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_choice, check_int
from chronolens.methods._common import baseline_series, selected_scores
from chronolens.methods._quadrature import RULES, quadrature
from chronolens.methods._result import MethodResult
from chronolens.targets import Target


def integrated_gradients(
    model: Any,
    x: torch.Tensor,
    target: Target,
    *,
    baseline: Any = "zeros",
    n_steps: int = 50,
    rule: str = "gausslegendre",
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Integrated Gradients: each value's share of the score change from a baseline.

    ``(x - baseline) * integral_0^1 grad f(baseline + a (x - baseline)) da``, the integral taken
    by quadrature with ``n_steps`` points. Signed: positive values push the score up. By the
    completeness axiom the map sums to ``f(x) - f(baseline)``; the gap per case, ``sum(map) -
    (f(x) - f(baseline))``, is in ``extras["convergence_delta"]`` (shrinks as ``n_steps`` grows).
    All (case, step) pairs are batch rows, chunked by ``batch_size``.

    Parameters
    ----------
    baseline : {"zeros", "mean"}, float or array, default="zeros"
        The reference series: all zeros, each case's per-channel mean over time, a constant, or
        an array of shape (n_channels, n_timepoints) or (n_cases, n_channels, n_timepoints) in
        the layout of ``x``.
    n_steps : int, default=50
        Quadrature points.
    rule : {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", \
"riemann_trapezoid"}, default="gausslegendre"
        Quadrature rule; Gauss-Legendre converges fastest for smooth paths.

    References
    ----------
    Sundararajan, Taly, Yan (2017). Axiomatic attribution for deep networks. ICML.
    """
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    check_choice(rule, "rule", RULES)
    base = baseline_series(baseline, x)
    alphas, weights = (torch.as_tensor(a, dtype=torch.float32) for a in quadrature(rule, n_steps))
    difference = x - base
    total = torch.zeros_like(x)
    n_rows = x.shape[0] * n_steps
    progress.start(n_rows)
    for start, stop in chunks(n_rows, batch_size):
        rows = torch.arange(start, stop)
        case, step = rows // n_steps, rows % n_steps
        points = base[case] + alphas[step, None, None] * difference[case]
        _, grads = model.gradient(points, target.take(case))
        total.index_add_(0, case, weights[step, None, None] * grads.cpu())
        progress.advance(stop - start)
    attributions = difference * total
    score_change = selected_scores(model, x, target, batch_size) - selected_scores(
        model, base, target, batch_size
    )
    delta = attributions.sum(dim=(1, 2)) - score_change
    return MethodResult(
        attributions,
        extras={"baseline": baseline if isinstance(baseline, str) else "array"},
        case_extras={"convergence_delta": delta, "baseline": base},
    )
