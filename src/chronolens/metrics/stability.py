"""Stability: whether a case's map keeps its rank order when nothing that matters changes.

The explanation's method is run again on the same case with another seed (randomized methods:
SmoothGrad, GradientSHAP, Shapley sampling, ...), with another baseline (methods that take one:
zeros, each channel's mean, noise, blur from :mod:`chronolens.baselines`), or on the series
with a little Gaussian noise added, and each re-computed map is compared with the original by
Spearman's rank correlation (:mod:`chronolens._ranks`). A case's stability is the mean
agreement over the re-computations: 1 is a map that does not move, 0 one whose ranking is
redrawn every time. Higher is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chronolens._ranks import spearman
from chronolens._validation import (
    check_batch_size,
    check_bool,
    check_choice,
    check_float,
    check_int,
)
from chronolens.baselines import check_baseline
from chronolens.explanation import Explanation
from chronolens.metrics._rerun import (
    case_draws,
    check_explanation,
    check_rerunnable,
    explained_target,
    per_case_by_length,
    rerun,
)
from chronolens.targets import TargetLike

OVER = ("seeds", "baselines", "noise")
#: The baselines compared by default; "noise" only for randomized methods (it needs a seed).
BASELINES = ("zeros", "mean", "blur")


def _spec(explanation: Explanation) -> Any:
    from chronolens.registry import REGISTRY

    if explanation.method not in REGISTRY:
        raise ValueError(
            f"stability re-runs the explanation's method, and {explanation.method!r} is not a "
            "registered method. Register it (chronolens.register) or explain with one of "
            f"{', '.join(REGISTRY)}."
        )
    return REGISTRY[explanation.method]


def _baseline_names(explanation: Explanation, chosen: Sequence[Any] | None) -> list[Any]:
    """The baselines to re-run with: ``chosen`` (checked) or the defaults, less the map's own."""
    from chronolens.registry import REGISTRY

    spec = _spec(explanation)
    if "baseline" not in spec.parameters:
        takers = [name for name, other in REGISTRY.items() if "baseline" in other.parameters]
        raise ValueError(
            f"over='baselines' re-runs the method with other baselines, and "
            f"{explanation.method!r} takes no `baseline`. It applies to {', '.join(takers)}; "
            "over='noise' applies to every method."
        )
    randomized = "seed" in explanation.params
    if chosen is None:
        chosen = BASELINES + (("noise",) if randomized else ())
    elif isinstance(chosen, str) or not isinstance(chosen, Sequence):
        raise TypeError(f"`baselines` must be a list of baselines; got {chosen!r}.")
    checked = [check_baseline(value, name="baselines") for value in chosen]
    own = explanation.params.get("baseline", spec.default("baseline"))
    names = [v for v in checked if not (isinstance(v, str) and isinstance(own, str) and v == own)]
    if not names:
        raise ValueError(
            f"`baselines` holds only the explanation's own baseline {own!r}; pass others, e.g. "
            f"baselines={list(BASELINES)}."
        )
    return names


def _check_seeds(explanation: Explanation) -> int:
    """The explanation's seed; a clear error for a deterministic method."""
    if "seed" not in explanation.params:
        spec = _spec(explanation)
        takers = "over='noise' (every method)"
        if "baseline" in spec.parameters:
            takers += " or over='baselines'"
        raise ValueError(
            f"over='seeds' re-runs a randomized method with other seeds, and "
            f"{explanation.method!r} is deterministic: its map does not depend on a seed. Use "
            f"{takers}."
        )
    return int(explanation.params["seed"])


def _agreement(original: np.ndarray, others: list[np.ndarray], absolute: bool) -> np.ndarray:
    """Mean Spearman correlation per case over the re-computed maps; NaN where none ranks."""
    a = np.abs(original) if absolute else original
    rho = np.array([spearman(a, np.abs(b) if absolute else b) for b in others])
    finite = np.isfinite(rho)
    count = finite.sum(axis=0)
    total = np.where(finite, rho, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def stability(
    model: Any,
    explanation: Explanation,
    *,
    over: str = "noise",
    n_repeats: int = 5,
    noise_scale: float = 0.05,
    baselines: Sequence[Any] | None = None,
    absolute: bool = True,
    target: TargetLike = None,
    batch_size: int | str = "auto",
    seed: int = 0,
) -> np.ndarray:
    """Rank agreement of each case's map with itself re-computed (higher is better).

    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
        The explained model (as :func:`chronolens.explain` takes it). Never modified.
    explanation : Explanation
        Made by a registered method: it is re-run with ``explanation.params``, changing only
        what ``over`` names.
    over : {"noise", "seeds", "baselines"}, default="noise"
        "seeds": ``n_repeats`` other seeds (the explanation's seed + 1, + 2, ...), for
        randomized methods. "baselines": each of ``baselines``, for methods that take one.
        "noise": ``n_repeats`` copies of the series with Gaussian noise of standard deviation
        ``noise_scale`` times each case's per-channel standard deviation, any method; the
        seed and every parameter stay those of the explanation.
    n_repeats : int, default=5
        Re-computations for "seeds" and "noise".
    noise_scale : float, default=0.05
        For "noise": the noise's standard deviation relative to each channel's. Case ``i``'s
        draws are ``numpy.random.default_rng([seed, i]).standard_normal((n_repeats,
        n_channels, n_timepoints))``. 0 re-runs the method on the series itself.
    baselines : sequence, optional
        For "baselines": names, numbers or arrays in the data's layout
        (:mod:`chronolens.baselines`). Default
        ``["zeros", "mean", "blur"]``, plus ``"noise"`` for randomized methods; the
        explanation's own baseline is left out.
    absolute : bool, default=True
        Compare the ranks of absolute attributions (what is important), else signed ones.
    target : None, int, sequence of int or callable, optional
        What the re-runs explain; default the explanation's own classes.
    batch_size : int or "auto", default="auto"
        Rows per model call of the method.
    seed : int, default=0
        Seed of the input noise ("noise").

    Returns
    -------
    numpy.ndarray of shape (n_cases,)
        Mean Spearman correlation over the re-computations, in [-1, 1]; NaN for a case whose
        map is constant every time (it ranks nothing). ``np.nanmean`` gives the mean.

    Raises
    ------
    ValueError
        When ``over`` does not apply to the method, naming what does.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.metrics import stability
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=2, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(3, 2, 16)).astype("float32")
    >>> exp = cl.explain(model, x, "saliency")
    >>> stability(model, exp, over="noise", noise_scale=0.0, n_repeats=1)
    array([1., 1., 1.])
    """
    check_explanation(explanation)
    check_choice(over, "over", OVER)
    n_repeats = check_int(n_repeats, "n_repeats", minimum=1)
    scale = check_float(noise_scale, "noise_scale", minimum=0.0)
    check_bool(absolute, "absolute")
    batch_size = check_batch_size(batch_size)
    seed = check_int(seed, "seed", minimum=0)
    _spec(explanation)
    check_rerunnable(explanation)
    chosen = _baseline_names(explanation, baselines) if over == "baselines" else []
    own_seed = _check_seeds(explanation) if over == "seeds" else 0

    def run(part: Explanation, aim: TargetLike) -> np.ndarray:
        x = part.x.astype(np.float64)
        n, c, t = x.shape
        aim = explained_target(part, aim)

        def again(series: np.ndarray, **params: Any) -> np.ndarray:
            return rerun(model, part, series, target=aim, batch_size=batch_size, params=params)

        if over == "seeds":
            others = [again(x, seed=own_seed + k + 1) for k in range(n_repeats)]
        elif over == "baselines":
            others = [again(x, baseline=value) for value in chosen]
        else:
            shape = (n_repeats, c, t)
            draws = case_draws(seed, n, shape, lambda rng: rng.standard_normal(shape))
            spread = scale * x.std(axis=2, keepdims=True)
            others = [again(x + spread * draws[:, k]) for k in range(n_repeats)]
        return _agreement(part.attributions.astype(np.float64), others, absolute)

    return per_case_by_length(explanation, run, target)
