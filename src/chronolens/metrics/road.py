"""ROAD: remove the most or least relevant points and impute them from the data (Rong et al.).

ROAD (RemOve And Debias) removes a fraction of the points of each series, the most relevant
first (MoRF) or the least relevant first (LeRF), fills them with a noisy linear imputation
from their kept neighbours (:mod:`chronolens.metrics.imputation`) and reads the model again,
without retraining. The imputation follows the data, so the removal itself does not move the
score the way zeros do on a smooth series, and the noise keeps the model from reading where
the points were removed (the class leak of plain masking). A faithful map makes the MoRF
curve fall fast and the LeRF curve stay high.

The paper reports the model's accuracy on the imputed test set at each fraction; for single
cases this module also gives the explained score and its probability. Every curve comes with
the curve of a random order of the map's own shape (:mod:`chronolens.metrics._references`).

References
----------
Rong, Leemann, Borisov, Kasneci, Kasneci (2022). A consistent and efficient evaluation strategy
for attribution methods. ICML. Code: github.com/tleemann/road_evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from chronolens import baselines
from chronolens._batching import chunks, resolve_batch_size
from chronolens._validation import check_batch_size, check_bool, check_choice, check_int
from chronolens.explanation import Explanation
from chronolens.metrics._perturbation import (
    Removal,
    check_array_baseline,
    feature_ranks,
    replacement,
    resolve,
    scored_steps,
    selected,
)
from chronolens.metrics._references import block_draw, reference_kind
from chronolens.metrics._road_result import RoadResult
from chronolens.metrics.imputation import check_imputation
from chronolens.models import adapt
from chronolens.models.base import Model
from chronolens.targets import Target, TargetLike, predicted_classes

ORDERS = ("both", "morf", "lerf")
#: ROAD's fractions removed: 10 % to 90 %.
FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    values = np.asarray(fractions, dtype=np.float64)
    if (
        values.ndim != 1
        or len(values) < 2
        or not np.all(np.isfinite(values))
        or values.min() < 0
        or values.max() > 1
        or np.any(np.diff(values) <= 0)
    ):
        raise ValueError(
            "`fractions` must be at least two increasing fractions of the points removed, "
            f"each in [0, 1], e.g. {FRACTIONS}; got {fractions!r}."
        )
    return values


def _labels(y: Any, n: int, output: torch.Tensor) -> np.ndarray | None:
    if y is None:
        return None
    labels = np.asarray(y)
    k = 2 if output.shape[1] == 1 else output.shape[1]
    if (
        labels.shape != (n,)
        or not np.issubdtype(labels.dtype, np.integer)
        or labels.min() < 0
        or labels.max() >= k
    ):
        raise ValueError(
            f"`y` must hold one true class in range({k}) per case ({n} integers); got "
            f"{labels.dtype} of shape {labels.shape}. Pass None to measure agreement with the "
            "model's prediction on the unperturbed series."
        )
    return labels.astype(np.int64)


def _probabilities(output: np.ndarray, resolved: Target, original: torch.Tensor) -> np.ndarray:
    """Probability of the explained class at every case and step; NaN for a callable target."""
    n, steps = output.shape[:2]
    if resolved.indices is None or output.ndim != 3:
        return np.full((n, steps), np.nan)
    if resolved.binary is not None:
        score = selected(output, resolved)
        return score if resolved.binary == "probability" else 1 / (1 + np.exp(-score))
    values = original.double()
    already = bool((values >= 0).all()) and bool(torch.allclose(values.sum(1), values.new_ones(1)))
    flat = torch.from_numpy(output)
    flat = flat if already else torch.softmax(flat, dim=-1)
    index = resolved.indices.cpu().numpy()
    return flat.numpy()[np.arange(n), :, index]


def _accuracy(output: np.ndarray, truth: np.ndarray, binary: str | None) -> np.ndarray:
    """Share of cases whose predicted class at each step is ``truth``, shape (steps,)."""
    n, steps = output.shape[:2]
    if output.ndim != 3:
        return np.full(steps, np.nan)
    flat = torch.from_numpy(output.reshape(n * steps, -1))
    predicted = predicted_classes(flat, binary).numpy().reshape(n, steps)
    return (predicted == truth[:, None]).mean(axis=0)


def _original(adapter: Model, x: np.ndarray, rows: int) -> torch.Tensor:
    series = torch.from_numpy(x)
    return torch.cat([adapter.scores(series[a:b]).detach().cpu() for a, b in chunks(len(x), rows)])


def _check_explanation(explanation: Any) -> Explanation:
    if isinstance(explanation, Explanation) and explanation.lengths is None:
        return explanation
    unequal = isinstance(explanation, Explanation)
    raise TypeError(
        "`explanation` must be a chronolens Explanation of equal-length series; got "
        + (
            "one of unequal lengths: run ROAD on each group of `explanation.by_length()`."
            if unequal
            else f"{type(explanation).__name__}. Make one with chronolens.explain(model, x, ...)."
        )
    )


def _missing(ranks: np.ndarray, counts: np.ndarray, least: bool) -> Any:
    """The removed points of some cases at every fraction: the top or the bottom ``counts``."""
    n_features = ranks.shape[1] * ranks.shape[2]

    def missing(cases: slice) -> np.ndarray:
        own = ranks[cases, None]
        if least:
            return own >= n_features - counts[None, :, None, None]
        return own < counts[None, :, None, None]

    return missing


def _summary(
    output: np.ndarray, resolved: Target, original: torch.Tensor, truth: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, probabilities (n, steps) and accuracy (steps,) of one order's outputs."""
    accuracy = (
        _accuracy(output, truth, resolved.binary)
        if truth is not None
        else np.full(output.shape[1], np.nan)
    )
    return selected(output, resolved), _probabilities(output, resolved, original), accuracy


def road(
    model: Any,
    explanation: Explanation,
    *,
    order: str = "both",
    fractions: Sequence[float] = FRACTIONS,
    imputation: str = "noisy_linear",
    noise: float = 0.01,
    baseline: Any = "zeros",
    absolute: bool = False,
    y: Any = None,
    target: TargetLike = None,
    batch_size: int | str = "auto",
    seed: int = 0,
) -> RoadResult:
    """ROAD curves: accuracy, score and probability as a fraction of the points is imputed.

    At each fraction ``p`` of ``fractions`` the ``floor(p * N)`` most relevant (MoRF) or least
    relevant (LeRF) of the ``N`` features are removed and imputed, and the model is read again.
    MoRF: **lower** is better (the map found what the model needs); LeRF: **higher** is better
    (what the map calls irrelevant is). ``gap = lerf_auc - morf_auc``: higher is better.

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
        The explained model; any adapter works, black boxes included. It is never modified.
    explanation : Explanation
        The map to test; its series ``x`` is perturbed (a copy).
    order : {"both", "morf", "lerf"}, default="both"
        The removal orders computed; the other's fields are NaN.
    fractions : sequence of float, default=(0.1, ..., 0.9)
        Increasing fractions of the features removed (ROAD's 10 % to 90 %).
    imputation : {"noisy_linear", "linear", "blur", "baseline"}, default="noisy_linear"
        What removed points become (:mod:`chronolens.metrics.imputation`); ROAD's is
        ``"noisy_linear"``. ``"blur"`` uses sigma ``max(1, t // 20) / 2``.
    noise : float, default=0.01
        Standard deviation of ROAD's imputation noise (absolute, in the series' units: for
        z-normalised series, 1 % of a standard deviation).
    baseline : str, float or array, default="zeros"
        The values of ``imputation="baseline"``, and of a channel whose points are all removed
        (nothing to impute from); see :func:`chronolens.metrics.deletion`.
    absolute : bool, default=False
        Rank by absolute attribution instead of signed.
    y : array-like of int, optional
        True classes, for the accuracy (ROAD's measure). Default: agreement with the model's
        prediction on the unperturbed series.
    target : None, int, sequence of int or callable, optional
        The scored output; default the explanation's own target.
    batch_size : int or "auto", default="auto"
        Rows per model call.
    seed : int, default=0
        Seed of the imputation noise and of the random reference.

    Returns
    -------
    RoadResult
        Per-case score and probability curves for MoRF, LeRF and the random reference, their
        areas, and the accuracy per fraction.

    Notes
    -----
    A feature is a (channel, point) of a per-channel map, a time point (every channel) of a
    shared map. Ties keep time order (ROAD breaks them with a fixed 1e-4 noise). The random
    reference ranks the map's own runs of equal values in a random order (scattered points for
    a map without runs). The published code's LeRF at ``p`` keeps the top ``p`` (removes
    ``1 - p``); here both orders remove ``p``, so its LeRF at ``p`` is this LeRF at ``1 - p``.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.metrics import road
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=2, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(4, 2, 40)).astype("float32")
    >>> result = road(model, cl.explain(model, x, "integrated_gradients"))
    >>> result.morf_scores.shape, result.lerf_auc.shape
    ((4, 9), (4,))
    """
    explanation = _check_explanation(explanation)
    order = check_choice(order, "order", ORDERS)
    steps = _check_fractions(fractions)
    imputation, noise = check_imputation(imputation, noise)
    check_bool(absolute, "absolute")
    batch_size = check_batch_size(batch_size)
    seed = check_int(seed, "seed", minimum=0)
    x = explanation.x
    n, c, t = x.shape
    baseline = check_array_baseline(baseline, x.shape)
    values = explanation.attributions.astype(np.float64)
    values = np.abs(values) if absolute else values
    draw = np.random.default_rng(seed).random(values.shape)
    ranked = feature_ranks(values, np.arange(t))
    counts = np.floor(steps * values.shape[1] * t + 1e-9).astype(np.int64)
    missing = {
        "morf": _missing(ranked, counts, least=False),
        "lerf": _missing(ranked, counts, least=True),
        "random": _missing(feature_ranks(block_draw(draw, values), np.arange(t)), counts, False),
    }
    window = max(1, t // 20)
    fill = replacement(x, baseline, window, np.arange(t), "point", seed)
    removal = Removal(x, fill, imputation, noise, window / 2, seed)
    wanted = ("morf", "lerf") if order == "both" else (order,)
    adapter = adapt(model)
    with adapter.session():
        rows = resolve_batch_size(batch_size, adapter, c, t)
        resolved = resolve(adapter, explanation, target, rows)
        original = _original(adapter, x, rows)
        truth = _labels(y, n, original)
        if truth is None and original.ndim == 2:
            truth = predicted_classes(original, resolved.binary).numpy()
        curves = {
            name: _summary(
                scored_steps(adapter, removal, missing[name], len(counts), rows),
                resolved,
                original,
                truth,
            )
            for name in (*wanted, "random")
        }
    return RoadResult.build(
        fractions=steps,
        curves=curves,
        imputation=imputation,
        noise=noise,
        reference=reference_kind(values),
        method=explanation.method,
        baseline=baselines.describe(baseline),
    )
