"""Gradient maps: saliency, input x gradient, SmoothGrad."""

from __future__ import annotations

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_bool, check_float, check_int, resolve_seed
from chronolens.attribution._common import gradients
from chronolens.attribution._result import MethodResult
from chronolens.models.base import Model
from chronolens.targets import Target


def saliency(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    abs: bool = True,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Gradient of the target score with respect to every input value.

    The map says how much a small change of each value (channel, time point) would move the
    score: a local sensitivity, not a share of the score.

    Parameters
    ----------
    abs : bool, default=True
        Return the absolute gradient (Simonyan et al., 2014); False keeps the sign (positive: an
        increase of the value raises the score).

    References
    ----------
    Simonyan, Vedaldi, Zisserman (2014). Deep inside convolutional networks: visualising image
    classification models and saliency maps. ICLR workshop.
    """
    check_bool(abs, "abs")
    _, grads, output = gradients(model, x, target, batch_size, progress)
    return MethodResult(grads.abs() if abs else grads, output=output)


def input_x_gradient(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Input times gradient: each value's first-order contribution to the score.

    Signed: positive values push the score up. For a linear model the map is exact, and its sum
    equals the score minus the bias.

    References
    ----------
    Shrikumar, Greenside, Shcherbina, Kundaje (2016). Not just a black box: learning important
    features through propagating activation differences. arXiv:1605.01713.
    """
    _, grads, output = gradients(model, x, target, batch_size, progress)
    return MethodResult(x * grads, output=output)


def noise_draws(seed: int, n_samples: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Standard normal draws ``(n_samples, *shape)`` from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((n_samples, *shape), generator=generator)


def smoothgrad(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    noise_level: float = 0.15,
    n_samples: int = 25,
    abs: bool = True,
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Average gradient over noisy copies of each series (SmoothGrad).

    Gaussian noise with standard deviation ``noise_level`` times the case's range (max - min over
    all channels and times) is added ``n_samples`` times; the map is the mean gradient (of its
    absolute value when ``abs=True``). Averaging removes the gradient's high-frequency jitter.

    Every case gets the same ``n_samples`` standard normal draws, scaled by its own range, so a
    case's map does not depend on which other cases are in the batch; ``seed`` makes it
    reproducible. The seed used is in ``extras["seed"]`` and each case's noise standard deviation
    in ``extras["noise_std"]``.

    Parameters
    ----------
    noise_level : float, default=0.15
        Noise standard deviation as a fraction of each case's range (Smilkov et al. suggest
        10-20%).
    n_samples : int, default=25
        Noisy copies per case.
    abs : bool, default=True
        Average absolute gradients; False averages signed gradients.
    seed : int or None, default=None
        Seed of the noise.

    References
    ----------
    Smilkov, Thorat, Kim, Viégas, Wattenberg (2017). SmoothGrad: removing noise by adding noise.
    arXiv:1706.03825.
    """
    noise_level = check_float(noise_level, "noise_level", minimum=0.0)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    check_bool(abs, "abs")
    n = x.shape[0]
    seed = resolve_seed(seed)
    draws = noise_draws(seed, n_samples, tuple(x.shape[1:]))
    flat = x.reshape(n, -1)
    std = noise_level * (flat.max(dim=1).values - flat.min(dim=1).values)
    total = torch.zeros_like(x)
    n_rows = n * n_samples
    progress.start(n_rows)
    for start, stop in chunks(n_rows, batch_size):
        rows = torch.arange(start, stop)
        case, sample = rows // n_samples, rows % n_samples
        noisy = x[case] + std[case, None, None] * draws[sample]
        grads = model.gradient(noisy, target.take(case)).grad
        grads = grads.cpu()
        total.index_add_(0, case, grads.abs() if abs else grads)
        progress.advance(stop - start)
    return MethodResult(total / n_samples, extras={"seed": seed}, case_extras={"noise_std": std})
