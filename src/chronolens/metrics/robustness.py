"""Infidelity and max-sensitivity (Yeh et al., 2019), as Captum defines them.

Infidelity asks whether the map predicts what a perturbation does to the model: for random
perturbations ``I``, ``E[(I . attribution - (f(x) - f(x - I)))^2]`` (lower is better).
Max-sensitivity asks whether the map is stable when the input barely moves: the method is run
again on series perturbed uniformly within a radius, and the largest relative change of the map
is kept (lower is better).

Both follow ``captum.metrics.infidelity`` and ``captum.metrics.sensitivity_max``: the same
estimators, the ``normalize`` option, perturbations divided by ``x - baseline`` for maps that
multiply by the input (``multiply_by_inputs``, Captum's ``infidelity_perturb_func_decorator``),
the Frobenius norm and a zero-norm map divided by 1. The draws are seeded per case (see
:mod:`chronolens.metrics._rerun`).

References
----------
Yeh, Hsieh, Suggala, Inouye, Ravikumar (2019). On the (in)fidelity and sensitivity of
explanations. NeurIPS.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from chronolens import baselines
from chronolens._batching import chunks, resolve_batch_size
from chronolens._validation import check_batch_size, check_bool, check_float, check_int
from chronolens.explanation import Explanation
from chronolens.metrics._rerun import (
    case_draws,
    check_explanation,
    check_rerunnable,
    custom_draws,
    explained_target,
    per_case_by_length,
    rerun,
)
from chronolens.models import adapt
from chronolens.targets import TargetLike, resolve_target

Perturbation = Callable[[np.ndarray, np.random.Generator], Any]


def _safe_div(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, dividing by 1 where the denominator is 0 (Captum)."""
    return numerator / np.where(denominator != 0, denominator, 1.0)


def _explained_scores(
    model: Any, x: np.ndarray, draws: np.ndarray, target: TargetLike, batch_size: int | str
) -> tuple[np.ndarray, np.ndarray]:
    """``f(x)`` per case (n,) and ``f(x - I)`` per draw (n, n_samples), the explained score."""
    n, n_samples, c, t = draws.shape
    adapter = adapt(model)
    with adapter.session():
        rows = resolve_batch_size(batch_size, adapter, c, t)
        series = torch.from_numpy(x)
        output = torch.cat([adapter.scores(series[a:b]).detach() for a, b in chunks(n, rows)])
        resolved = resolve_target(target, output)
        original = resolved.select(output)
        moved = np.empty((n, n_samples))
        for start, stop in chunks(n, max(1, rows // n_samples)):
            perturbed = (x[start:stop, None] - draws[start:stop]).astype(np.float32)
            batch = torch.from_numpy(perturbed.reshape(-1, c, t))
            aims = resolved.take(torch.arange(start, stop).repeat_interleave(n_samples))
            values = torch.cat(
                [
                    aims.take(slice(a, b)).select(adapter.scores(batch[a:b])).detach()
                    for a, b in chunks(len(batch), rows)
                ]
            )
            moved[start:stop] = values.double().cpu().numpy().reshape(stop - start, n_samples)
    return original.double().cpu().numpy(), moved


def infidelity(
    model: Any,
    explanation: Explanation,
    *,
    noise_scale: float = 0.1,
    perturbation: Perturbation | None = None,
    n_samples: int = 10,
    normalize: bool = False,
    multiply_by_inputs: bool = False,
    baseline: Any = "zeros",
    target: TargetLike = None,
    batch_size: int | str = "auto",
    seed: int = 0,
) -> np.ndarray:
    """Infidelity (Yeh et al., 2019): how badly the map predicts the effect of perturbations.

    ``mean over samples of (sum(I * attribution) - (f(x) - f(x - I)))^2`` per case, with ``f``
    the explained score. Lower is better; 0 when the map is exact for every perturbation (the
    gradient of a linear model).

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
        The explained model; any adapter works (only its outputs are read). Never modified.
    explanation : Explanation
        The map to test. A map shared by all channels counts ``I`` summed over channels.
    noise_scale : float, default=0.1
        Standard deviation of the default perturbation, Gaussian noise ``I``: case ``i``'s
        draws are ``numpy.random.default_rng([seed, i]).normal(0, noise_scale, (n_samples,
        n_channels, n_timepoints))``.
    perturbation : callable, optional
        ``perturbation(copies, rng) -> I`` replaces the noise: ``copies`` holds one case
        ``n_samples`` times, (n_samples, n_channels, n_timepoints), ``rng`` is that case's
        Generator; the model sees ``x - I``. E.g. binary masks of ``x - baseline`` (Yeh et
        al.'s "square removal") for maps that multiply by the input.
    n_samples : int, default=10
        Perturbations per case (Captum's ``n_perturb_samples``).
    normalize : bool, default=False
        Scale the map by the best factor ``beta = E[I.a (f(x) - f(x - I))] / E[(I.a)^2]``
        first, so that infidelity ignores the map's overall scale (Captum's ``normalize``).
    multiply_by_inputs : bool, default=False
        For maps that multiply by the input (Integrated Gradients, input x gradient, SHAP,
        occlusion): the perturbation in the dot product is ``I / (x - baseline)`` (1 where that
        is 0), as Captum's ``infidelity_perturb_func_decorator(True)``. Leave False for local
        maps (saliency, SmoothGrad, CAM).
    baseline : {"zeros", "mean", "noise", "local_mean", "blur"}, float or array, default="zeros"
        The baseline of ``multiply_by_inputs`` (see :mod:`chronolens.baselines`).
    target : None, int, sequence of int or callable, optional
        The scored output; default the explanation's own target.
    batch_size : int or "auto", default="auto"
        Rows per model call.
    seed : int, default=0
        Seed of the perturbations (and of the ``"noise"`` baseline).

    Returns
    -------
    numpy.ndarray of shape (n_cases,)
        ``np.mean`` gives the mean.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.metrics import infidelity
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=2, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(3, 2, 16)).astype("float32")
    >>> infidelity(model, cl.explain(model, x, "saliency"), n_samples=4).shape
    (3,)
    """
    check_explanation(explanation)
    scale = check_float(noise_scale, "noise_scale", minimum=0.0)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    check_bool(normalize, "normalize")
    check_bool(multiply_by_inputs, "multiply_by_inputs")
    baseline = baselines.check_baseline(baseline)
    batch_size = check_batch_size(batch_size)
    seed = check_int(seed, "seed", minimum=0)

    def run(part: Explanation, aim: TargetLike) -> np.ndarray:
        x = np.ascontiguousarray(part.x, dtype=np.float32)
        n, c, t = x.shape
        if perturbation is None:
            draws = case_draws(
                seed, n, (n_samples, c, t), lambda rng: rng.normal(0, scale, (n_samples, c, t))
            )
        else:
            draws = custom_draws(perturbation, x, n_samples, seed)
        draws = draws.astype(np.float32).astype(np.float64)  # what the model sees
        original, moved = _explained_scores(
            model, x, draws, explained_target(part, aim), batch_size
        )
        effective = draws
        if multiply_by_inputs:
            values = baselines.replacement(
                baseline, torch.from_numpy(x), seed=seed, window=max(1, t // 20)
            )
            assert values is not None
            effective = _safe_div(draws, (x.astype(np.float64) - values.double().numpy())[:, None])
        attributions = part.attributions.astype(np.float64)[:, None]
        dot = (effective * attributions).sum(axis=(2, 3))  # a shared map broadcasts
        change = original[:, None] - moved
        if not normalize:
            return ((dot - change) ** 2).mean(axis=1)
        squares, products, changes = (dot**2).sum(1), (dot * change).sum(1), (change**2).sum(1)
        beta = _safe_div(products, squares)
        return (beta * beta * squares - 2 * beta * products + changes) / n_samples

    return per_case_by_length(explanation, run, target)


def _norm(values: np.ndarray, norm_ord: Any) -> np.ndarray:
    """Norm of each row of a (rows, features) array: "fro" (2), or a ``numpy.linalg.norm`` ord."""
    return np.linalg.norm(values, ord=2 if norm_ord == "fro" else norm_ord, axis=1)


def max_sensitivity(
    model: Any,
    explanation: Explanation,
    *,
    radius: float = 0.02,
    perturbation: Perturbation | None = None,
    n_samples: int = 10,
    norm_ord: str | float = "fro",
    target: TargetLike = None,
    batch_size: int | str = "auto",
    seed: int = 0,
) -> np.ndarray:
    """Max-sensitivity (Yeh et al., 2019): the largest relative change of the map nearby.

    ``max over samples of ||a(x + d) - a(x)|| / ||a(x)||``, with ``a`` the explanation's own
    method and parameters (its seed too, so a randomized method draws the same noise) re-run on
    the perturbed series for the same target, and ``d`` uniform in ``[-radius, radius]``. Lower
    is better. A map of norm 0 is divided by 1 (Captum).

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
        The explained model (as :func:`chronolens.explain` takes it). Never modified.
    explanation : Explanation
        Made by a registered method: it is re-run with ``explanation.params``.
    radius : float, default=0.02
        Half-width of the uniform perturbation (Captum's ``perturb_radius``): case ``i``'s
        draws are ``numpy.random.default_rng([seed, i]).uniform(-radius, radius, (n_samples,
        n_channels, n_timepoints))``.
    perturbation : callable, optional
        ``perturbation(copies, rng) -> d`` replaces the uniform draws (the method sees
        ``x + d``), with ``copies`` one case repeated ``n_samples`` times and ``rng`` its
        Generator.
    n_samples : int, default=10
        Perturbed series per case (Captum's ``n_perturb_samples``).
    norm_ord : "fro" or float, default="fro"
        The norm of the flattened maps: "fro" (Euclidean, Captum's default), or any
        ``numpy.linalg.norm`` order for vectors (1, ``numpy.inf``, ...).
    target : None, int, sequence of int or callable, optional
        What the re-runs explain; default the explanation's own classes.
    batch_size : int or "auto", default="auto"
        Rows per model call of the method.
    seed : int, default=0
        Seed of the perturbations.

    Returns
    -------
    numpy.ndarray of shape (n_cases,)

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.metrics import max_sensitivity
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=2, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(3, 2, 16)).astype("float32")
    >>> max_sensitivity(model, cl.explain(model, x, "saliency"), n_samples=3).shape
    (3,)
    """
    check_explanation(explanation)
    check_rerunnable(explanation)
    radius = check_float(radius, "radius", minimum=0.0)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    valid = isinstance(norm_ord, numbers.Real) and not isinstance(norm_ord, bool)
    if not (norm_ord == "fro" if isinstance(norm_ord, str) else valid):
        raise ValueError(
            f"`norm_ord` must be 'fro' or a number such as 1 or numpy.inf; got {norm_ord!r}."
        )
    batch_size = check_batch_size(batch_size)
    seed = check_int(seed, "seed", minimum=0)

    def run(part: Explanation, aim: TargetLike) -> np.ndarray:
        x = part.x.astype(np.float64)
        n, c, t = x.shape
        if perturbation is None:
            draws = case_draws(
                seed,
                n,
                (n_samples, c, t),
                lambda rng: rng.uniform(-radius, radius, (n_samples, c, t)),
            )
        else:
            draws = custom_draws(perturbation, part.x, n_samples, seed)
        aim = explained_target(part, aim)
        original = part.attributions.astype(np.float64).reshape(n, -1)
        scale = _norm(original, norm_ord)
        scale = np.where(scale == 0, 1.0, scale)
        worst = np.full(n, -np.inf)
        for s in range(n_samples):  # all cases at once, in order: a case keeps its own draws
            moved = rerun(model, part, x + draws[:, s], target=aim, batch_size=batch_size)
            worst = np.maximum(worst, _norm(moved.reshape(n, -1) - original, norm_ord) / scale)
        return worst

    return per_case_by_length(explanation, run, target)
