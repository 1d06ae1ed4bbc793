"""GradientSHAP: expected gradients between the series and random baselines.

For each of ``n_samples`` draws ``s``: a baseline ``b_s`` (the case's own baseline, or a series
drawn from a ``background`` set of real series), Gaussian noise ``e_s`` of standard deviation
``stdevs``, and a point ``a_s`` drawn uniformly in [0, 1]. The map is

    mean_s (x + e_s - b_s) * grad f(b_s + a_s (x + e_s - b_s)),

Captum's ``GradientShap`` (an input-baseline-times-gradient inside a noise tunnel). In
expectation over ``a`` it is Integrated Gradients from each baseline, so the map sums, on
average, to ``f(x) - E[f(b)]`` (Lundberg and Lee's expected-gradients reading of SHAP values).

The draws are shared by every case (as SmoothGrad's noise is): case ``i`` uses the same
``(a_s, background index_s, e_s)`` whatever the other cases in the call, so a map never
depends on the batch. They are recorded in ``extras`` and come from ``seed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_float, check_int, resolve_seed
from chronolens.attribution._result import MethodResult
from chronolens.baselines import replacement
from chronolens.models.base import Model
from chronolens.targets import Target


def _background(background: Any, x: torch.Tensor) -> torch.Tensor | None:
    if background is None:
        return None
    values = torch.as_tensor(np.asarray(background, dtype=np.float32))
    if values.ndim != 3 or tuple(values.shape[1:]) != tuple(x.shape[1:]):
        raise ValueError(
            f"`background` must be reference series of shape (n_reference, {x.shape[1]}, "
            f"{x.shape[2]}), in the data's layout; got {tuple(values.shape)}."
        )
    if not torch.isfinite(values).all():
        raise ValueError("`background` holds NaN or infinite values; drop those series.")
    return values


def gradient_shap(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    n_samples: int = 50,
    stdevs: float = 0.0,
    baseline: Any = "zeros",
    background: Any = None,
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """GradientSHAP: input minus a random baseline, times the gradient at a random point between.

    Parameters
    ----------
    n_samples : int, default=50
        Draws per case.
    stdevs : float, default=0.0
        Standard deviation of the Gaussian noise added to the series before each draw (in the
        data's units; Captum's ``stdevs``).
    baseline : {"zeros", "mean", "noise", "blur"}, float or array, default="zeros"
        Each case's own baseline, when no ``background`` is given.
    background : array-like of shape (n_reference, n_channels, n_timepoints), optional
        Real series (e.g. training cases) to draw baselines from, uniformly: the SHAP reading.
    seed : int or None, default=None
        Seed of the draws.

    References
    ----------
    Lundberg, Lee (2017). A unified approach to interpreting model predictions. NeurIPS.
    Erion, Janizek, Sturmfels, Lundberg, Lee (2021). Improving performance of deep learning
    models with axiomatic attribution priors and expected gradients. Nature Machine
    Intelligence.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    stdevs = check_float(stdevs, "stdevs", minimum=0.0)
    seed = resolve_seed(seed)
    n = x.shape[0]
    generator = torch.Generator().manual_seed(seed)
    alphas = torch.rand(n_samples, generator=generator)
    noise = stdevs * torch.randn((n_samples, *x.shape[1:]), generator=generator)
    references = _background(background, x)
    index: torch.Tensor | None = None
    if references is not None:  # one reference series per sample: bases[sample]
        index = torch.randint(len(references), (n_samples,), generator=generator)
        bases, per_case = references[index], False
    else:  # the case's own baseline: bases[case]
        own = replacement(baseline, x, seed=seed, allowed=("zeros", "mean", "noise", "blur"))
        assert own is not None  # local_mean is not allowed
        bases, per_case = own, True
    total = torch.zeros_like(x)
    progress.start(n * n_samples)
    for start, stop in chunks(n * n_samples, batch_size):
        rows = torch.arange(start, stop)
        case, sample = rows // n_samples, rows % n_samples
        noisy = x[case] + noise[sample]
        base = bases[case] if per_case else bases[sample]
        point = base + alphas[sample, None, None] * (noisy - base)
        grads = model.gradient(point, target.take(case)).grad.cpu()
        total.index_add_(0, case, grads * (noisy - base))
        progress.advance(stop - start)
    extras: dict[str, Any] = {"seed": seed, "alphas": alphas.numpy()}
    if index is not None:
        extras["background_index"] = index.numpy()
    return MethodResult(total / n_samples, extras=extras)
