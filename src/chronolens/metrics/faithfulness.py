"""Does the model's score follow the map? Deletion and insertion curves, and AOPC.

Deletion (Petsiuk et al., 2018): replace the points (or windows) of a series in the order of
their attribution, most relevant first, in ``n_steps`` equal steps, and record the score of the
explained class after each step. A faithful map makes the score fall fast (low area under the
curve). Insertion starts from the fully replaced series and restores the points in the same
order: a faithful map makes the score rise fast (high area). AOPC (Samek et al., 2017) is the
mean drop of the score along the deletion curve.

Every curve comes with two random references (seeded), because an area means little without
one: scattered random features, and the map's own blocks in a random order (the reference that
matches a block-shaped map, :mod:`chronolens.metrics._references`). Removed points take the
``baseline`` values or follow the data (``imputation``, :mod:`chronolens.metrics.imputation`).
The engine is in :mod:`chronolens.metrics._perturbation`.

References
----------
Petsiuk, Das, Saenko (2018). RISE: Randomized input sampling for explanation of black-box
models. BMVC.
Samek, Binder, Montavon, Lapuschkin, Müller (2017). Evaluating the visualization of what a deep
neural network has learned. IEEE TNNLS.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chronolens import baselines
from chronolens._batching import resolve_batch_size
from chronolens._validation import check_batch_size, check_bool, check_choice, check_int
from chronolens.explanation import Explanation
from chronolens.metrics._perturbation import (
    Removal,
    check_array_baseline,
    feature_ranks,
    grouped,
    replacement,
    resolve,
    scored_steps,
    selected,
    trapezoid,
)
from chronolens.metrics._references import block_draw, has_runs, reference_kind
from chronolens.metrics.curve import PerturbationCurve, by_length
from chronolens.metrics.imputation import check_imputation
from chronolens.models import adapt
from chronolens.targets import TargetLike

GRANULARITIES = ("point", "window")


def _check_curve_arguments(
    granularity: str, n_steps: int, window: int | None, absolute: bool, t: int
) -> int:
    """Check the curve's arguments; return the window width."""
    check_choice(granularity, "granularity", GRANULARITIES)
    check_int(n_steps, "n_steps", minimum=1)
    window = max(1, t // 20) if window is None else check_int(window, "window", minimum=1)
    if window > t:
        raise ValueError(f"`window` must be at most n_timepoints={t}; got {window}.")
    check_bool(absolute, "absolute")
    return window


def _check_explanation(explanation: Any) -> Explanation:
    if not isinstance(explanation, Explanation):
        raise TypeError(
            f"`explanation` must be a chronolens Explanation; got {type(explanation).__name__}. "
            "Make one with chronolens.explain(model, x, method=...)."
        )
    return explanation


def _curve(kind: str, model: Any, explanation: Explanation, **kw: Any) -> PerturbationCurve:
    explanation = _check_explanation(explanation)
    if explanation.lengths is not None:  # unequal lengths: each length on its own, unpadded
        if kw["window"] is None:
            kw["window"] = max(1, int(explanation.lengths.min()) // 20)
        own = baselines.check_baseline(kw.pop("baseline"))
        aim = kw.pop("target")
        run = lambda part, b, a: _curve(kind, model, part, baseline=b, target=a, **kw)  # noqa: E731
        return by_length(explanation, run, own, aim)
    x = explanation.x
    _, c, t = x.shape
    baseline = check_array_baseline(kw["baseline"], x.shape)
    window = _check_curve_arguments(
        kw["granularity"], kw["n_steps"], kw["window"], kw["absolute"], t
    )
    imputation, noise = check_imputation(kw["imputation"], kw["noise"])
    n_steps, granularity = int(kw["n_steps"]), kw["granularity"]
    batch_size = check_batch_size(kw["batch_size"])
    seed = check_int(kw["seed"], "seed", minimum=0)

    windows = np.arange(t) // window if granularity == "window" else np.arange(t)
    n_windows = int(windows[-1]) + 1
    values = explanation.attributions.astype(np.float64)
    values = grouped(np.abs(values) if kw["absolute"] else values, windows, n_windows)
    draw = grouped(
        np.random.default_rng(seed).random(explanation.attributions.shape), windows, n_windows
    )
    shape, runs = reference_kind(values), has_runs(values)
    orders = [feature_ranks(v, windows) for v in (values, draw, block_draw(draw, values))]
    fractions = np.linspace(0.0, 1.0, n_steps + 1)
    counts = np.rint(fractions * values.shape[1] * n_windows).astype(np.int64)
    fill = replacement(x, baseline, window, windows, granularity, seed)
    removal = Removal(x, fill, imputation, noise, window / 2, seed)

    adapter = adapt(model)
    with adapter.session():
        rows = resolve_batch_size(batch_size, adapter, c, t)
        resolved = resolve(adapter, explanation, kw["target"], rows)
        curves = []
        for ranks in orders[: 3 if runs else 2]:

            def missing(cases: slice, ranks: np.ndarray = ranks) -> np.ndarray:
                removed = ranks[cases, None] < counts[None, :, None, None]
                return removed if kind == "deletion" else ~removed

            output = scored_steps(adapter, removal, missing, len(counts), rows)
            curves.append(selected(output, resolved))
    curves += [] if runs else curves[1:]  # no runs: the block draw is the point draw
    return PerturbationCurve(
        kind=kind,
        fractions=fractions,
        scores=curves[0],
        auc=trapezoid(curves[0], fractions),
        random_scores=curves[1],
        random_auc=trapezoid(curves[1], fractions),
        baseline=baselines.describe(baseline),
        granularity=granularity,
        window=window,
        method=explanation.method,
        imputation=imputation,
        block_random_scores=curves[2],
        block_random_auc=trapezoid(curves[2], fractions),
        reference=shape,
    )


_PARAMETERS = """
    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
        The explained model; any adapter works, black boxes included (only its scores are read).
        It is never modified.
    explanation : Explanation
        The map to test; its series ``x`` is perturbed (a copy: the explanation is unchanged).
    baseline : {"zeros", "mean", "noise", "local_mean", "blur"}, float or array, default="zeros"
        What a removed point becomes: 0; each channel's mean over time (per case); Gaussian
        noise with each channel's mean and standard deviation (seeded); the mean of the removed
        window itself (for single points, the centred moving average over ``window`` points);
        the series blurred by a Gaussian of standard deviation ``window / 2``; a constant; or an
        array of the series' shape. With ``imputation="linear"`` or ``"noisy_linear"`` only a
        channel with no kept point takes these values; ``"blur"`` does not use them.
    imputation : {"baseline", "linear", "noisy_linear", "blur"}, default="baseline"
        What a removed point becomes (:mod:`chronolens.metrics.imputation`): the ``baseline``
        values; linearly interpolated along time from the nearest kept points of its channel
        (edges held); ROAD's noisy linear imputation (the neighbour-mean system plus noise of
        std ``noise``); the series blurred with sigma ``window / 2``. The data-following ones
        keep a removed point near the data, so the replacement itself moves the score less
        than a zero on a smooth series does.
    noise : float, default=0.01
        Standard deviation of the noise of ``"noisy_linear"`` (absolute; ROAD's default).
    granularity : {"point", "window"}, default="point"
        Replace single (channel, time) points, or contiguous windows of ``window`` time points
        (time-series aware: removing scattered points barely changes a smooth series). A
        window's relevance is the mean attribution inside it.
    n_steps : int, default=20
        Number of equal steps from 0 to all features.
    window : int, optional
        Window width in time points; default ``max(1, n_timepoints // 20)``.
    absolute : bool, default=False
        Rank by absolute attribution instead of signed (signed: evidence for the class first).
    target : None, int, sequence of int or callable, optional
        The scored output; default the explanation's own target.
    batch_size : int or "auto", default="auto"
        Rows per model call.
    seed : int, default=0
        Seed of the random references, of the ``"noise"`` baseline and of the imputation noise.

    Notes
    -----
    A feature is a (channel, point) or (channel, window) of a per-channel map. A map shared by
    all channels (``per_channel=False``, e.g. Grad-CAM) ranks time points or windows, and a
    removed one is removed in every channel. Ties keep time order. The point reference
    (``random_*``) ranks the same features by a uniform random draw; the block reference
    (``block_random_*``, the one matching the map) ranks the map's runs of equal values along
    time by a random draw, so a segment map is compared with random segments of its own sizes.
"""


def deletion(
    model: Any,
    explanation: Explanation,
    *,
    baseline: Any = "zeros",
    imputation: str = "baseline",
    noise: float = 0.01,
    granularity: str = "point",
    n_steps: int = 20,
    window: int | None = None,
    absolute: bool = False,
    target: TargetLike = None,
    batch_size: int | str = "auto",
    seed: int = 0,
) -> PerturbationCurve:
    """Deletion curve: the score as the most relevant features are replaced first.

    Lower area is better: the map found what the score depends on.
    {parameters}

    Returns
    -------
    PerturbationCurve
        ``fractions``, ``scores``, ``auc``, the point reference ``random_scores`` /
        ``random_auc``, the block reference ``block_random_scores`` / ``block_random_auc``
        (``matched_random_auc``), ``reference`` (the map's shape); ``mean_auc`` is the plain
        mean over cases.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.metrics import deletion
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=3, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(4, 3, 40)).astype("float32")
    >>> curve = deletion(model, cl.explain(model, x, "integrated_gradients"), n_steps=10)
    >>> curve.scores.shape, curve.auc.shape
    ((4, 11), (4,))
    """
    return _curve(
        "deletion",
        model,
        explanation,
        baseline=baseline,
        imputation=imputation,
        noise=noise,
        granularity=granularity,
        n_steps=n_steps,
        window=window,
        absolute=absolute,
        target=target,
        batch_size=batch_size,
        seed=seed,
    )


def insertion(
    model: Any,
    explanation: Explanation,
    *,
    baseline: Any = "zeros",
    imputation: str = "baseline",
    noise: float = 0.01,
    granularity: str = "point",
    n_steps: int = 20,
    window: int | None = None,
    absolute: bool = False,
    target: TargetLike = None,
    batch_size: int | str = "auto",
    seed: int = 0,
) -> PerturbationCurve:
    """Insertion curve: the score as the most relevant features are restored first.

    Starts from the fully replaced series. Higher area is better.
    {parameters}

    Returns
    -------
    PerturbationCurve
    """
    return _curve(
        "insertion",
        model,
        explanation,
        baseline=baseline,
        imputation=imputation,
        noise=noise,
        granularity=granularity,
        n_steps=n_steps,
        window=window,
        absolute=absolute,
        target=target,
        batch_size=batch_size,
        seed=seed,
    )


def aopc_score(
    model: Any,
    explanation: Explanation,
    *,
    baseline: Any = "zeros",
    imputation: str = "baseline",
    noise: float = 0.01,
    granularity: str = "point",
    n_steps: int = 20,
    window: int | None = None,
    absolute: bool = False,
    target: TargetLike = None,
    batch_size: int | str = "auto",
    seed: int = 0,
) -> np.ndarray:
    """AOPC (Samek et al., 2017): the mean drop of the score along the deletion curve.

    ``AOPC = 1 / (L + 1) * sum over k = 0..L of (f(x) - f(x_k))``, with ``L = n_steps`` and
    ``x_k`` the series after ``k`` deletion steps. Higher is better. The random references are
    in ``deletion(...).random_aopc`` and ``deletion(...).block_random_aopc``.
    {parameters}

    Returns
    -------
    numpy.ndarray of shape (n_cases,)
        ``np.mean`` gives the mean.
    """
    return deletion(
        model,
        explanation,
        baseline=baseline,
        imputation=imputation,
        noise=noise,
        granularity=granularity,
        n_steps=n_steps,
        window=window,
        absolute=absolute,
        target=target,
        batch_size=batch_size,
        seed=seed,
    ).aopc


for _function in (deletion, insertion, aopc_score):
    _function.__doc__ = (_function.__doc__ or "").replace("{parameters}", _PARAMETERS.strip())
