"""Does the model's score follow the map? Deletion and insertion curves, and AOPC.

Deletion (Petsiuk et al., 2018): replace the points (or windows) of a series in the order of
their attribution, most relevant first, in ``n_steps`` equal steps, and record the score of the
explained class after each step. A faithful map makes the score fall fast (low area under the
curve). Insertion starts from the fully replaced series and restores the points in the same
order: a faithful map makes the score rise fast (high area). AOPC (Samek et al., 2017) is the
mean drop of the score along the deletion curve.

Every curve comes with the same curve for a random attribution of the same shape (seeded),
because an area means little without that reference.

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
import torch

from chronolens import baselines
from chronolens._batching import chunks, resolve_batch_size
from chronolens._validation import check_batch_size, check_bool, check_choice, check_int
from chronolens.explanation import Explanation
from chronolens.metrics.curve import PerturbationCurve, by_length
from chronolens.models import adapt
from chronolens.models.base import Model
from chronolens.targets import Target, TargetLike, binary_kind, resolve_target

GRANULARITIES = ("point", "window")


def _trapezoid(scores: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    return ((scores[:, 1:] + scores[:, :-1]) / 2 * np.diff(fractions)).sum(axis=1)


def _feature_ranks(values: np.ndarray, windows: np.ndarray, n_windows: int) -> np.ndarray:
    """Rank (0 = most relevant) of each feature, spread back to points: shape (n, rows, t)."""
    n, rows, _ = values.shape
    grouped = np.zeros((n, rows, n_windows))
    for index in range(n_windows):
        grouped[..., index] = values[..., windows == index].mean(axis=-1)
    flat = grouped.reshape(n, -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None], axis=1)
    return ranks.reshape(n, rows, n_windows)[..., windows]


def _resolve(
    adapter: Model, explanation: Explanation, target: TargetLike, batch_size: int
) -> Target:
    if target is None:
        if explanation.target is None:
            raise ValueError(
                "This explanation was made for a callable `target`, which is not stored with "
                "it; pass the same `target=` to the metric."
            )
        x = torch.from_numpy(explanation.x)
        first = adapter.scores(x[:1])
        binary = None
        if isinstance(first, torch.Tensor) and first.ndim == 2 and first.shape[1] == 1:
            # a binary head: whether it gives logits or probabilities needs every case
            binary = binary_kind(
                torch.cat([adapter.scores(x[a:b]) for a, b in chunks(len(x), batch_size)])
            )
        return Target(indices=torch.as_tensor(explanation.target, dtype=torch.long), binary=binary)
    x = torch.from_numpy(explanation.x)
    parts = [adapter.scores(x[a:b]) for a, b in chunks(len(x), batch_size)]
    return resolve_target(target, torch.cat(parts))


def _replacement(
    x: np.ndarray, baseline: Any, window: int, windows: np.ndarray, granularity: str, seed: int
) -> np.ndarray:
    """The values removed points take: see :mod:`chronolens.baselines`.

    For window granularity, ``"local_mean"`` is each window's own mean; for points, the centred
    moving average over ``window`` points. ``"blur"`` smooths with sigma ``window / 2``.
    """
    series = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    values: torch.Tensor | None
    if isinstance(baseline, str) and baseline == "local_mean" and granularity == "window":
        values = baselines.window_means(series, windows)
    else:
        values = baselines.replacement(baseline, series, seed=seed, window=window)
    assert values is not None
    return values.numpy()


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


def _scores_along(
    adapter: Model,
    x: np.ndarray,
    replaced_values: np.ndarray,
    case_ranks: np.ndarray,
    counts: np.ndarray,
    kind: str,
    resolved: Target,
    rows: int,
) -> np.ndarray:
    """The explained score after each step of the curve, (n, n_steps + 1)."""
    n, c, t = x.shape
    n_points = len(counts)
    scores = np.empty((n, n_points))
    per_chunk = max(1, rows // n_points)
    for start, stop in chunks(n, per_chunk):
        # (cases, steps, rows, t) -> broadcast over channels for shared maps
        removed = case_ranks[start:stop, None] < counts[None, :, None, None]
        removed = np.broadcast_to(removed, (stop - start, n_points, c, t))
        original = x[start:stop, None]
        other = replaced_values[start:stop, None]
        series = (
            np.where(removed, other, original)
            if kind == "deletion"
            else np.where(removed, original, other)
        )
        batch = torch.from_numpy(np.ascontiguousarray(series, dtype=np.float32).reshape(-1, c, t))
        case_target = resolved.take(torch.arange(start, stop).repeat_interleave(n_points))
        selected = [
            case_target.take(slice(a, b)).select(adapter.scores(batch[a:b]))
            for a, b in chunks(len(batch), rows)
        ]
        scores[start:stop] = (
            torch.cat(selected).detach().cpu().double().numpy().reshape(stop - start, n_points)
        )
    return scores


def _curve(
    kind: str,
    model: Any,
    explanation: Explanation,
    *,
    baseline: Any,
    granularity: str,
    n_steps: int,
    window: int | None,
    absolute: bool,
    target: TargetLike,
    batch_size: int | str,
    seed: int,
) -> PerturbationCurve:
    if not isinstance(explanation, Explanation):
        raise TypeError(
            f"`explanation` must be a chronolens Explanation; got {type(explanation).__name__}. "
            "Make one with chronolens.explain(model, x, method=...)."
        )
    if explanation.lengths is not None:  # unequal lengths: each length on its own, unpadded
        window = max(1, int(explanation.lengths.min()) // 20) if window is None else window
        kw: dict[str, Any] = dict(granularity=granularity, n_steps=n_steps, window=window)
        kw.update(absolute=absolute)
        kw.update(batch_size=batch_size, seed=seed)
        run = lambda part, own, aim: _curve(kind, model, part, baseline=own, target=aim, **kw)  # noqa: E731
        return by_length(explanation, run, baselines.check_baseline(baseline), target)
    x = explanation.x
    _, c, t = x.shape
    baseline = baselines.check_baseline(baseline)
    if isinstance(baseline, np.ndarray) and baseline.shape != x.shape:
        raise ValueError(
            f"An array `baseline` must have the shape of the explained series {x.shape}; got "
            f"{baseline.shape}. Pass one of {', '.join(repr(b) for b in baselines.NAMES)} or a "
            "number instead."
        )
    window = _check_curve_arguments(granularity, n_steps, window, absolute, t)
    n_steps = int(n_steps)
    batch_size = check_batch_size(batch_size)
    seed = check_int(seed, "seed", minimum=0)

    windows = np.arange(t) // window if granularity == "window" else np.arange(t)
    n_windows = int(windows[-1]) + 1
    rng = np.random.default_rng(seed)
    values = explanation.attributions.astype(np.float64)
    values = np.abs(values) if absolute else values
    ranks = _feature_ranks(values, windows, n_windows)
    random_ranks = _feature_ranks(rng.random(values.shape), windows, n_windows)
    n_features = values.shape[1] * n_windows
    fractions = np.linspace(0.0, 1.0, n_steps + 1)
    counts = np.rint(fractions * n_features).astype(np.int64)
    replaced_values = _replacement(x, baseline, window, windows, granularity, seed)

    adapter = adapt(model)
    with adapter.session():
        rows = resolve_batch_size(batch_size, adapter, c, t)
        resolved = _resolve(adapter, explanation, target, rows)
        curves = [
            _scores_along(adapter, x, replaced_values, case_ranks, counts, kind, resolved, rows)
            for case_ranks in (ranks, random_ranks)
        ]
    label = baselines.describe(baseline)
    return PerturbationCurve(
        kind=kind,
        fractions=fractions,
        scores=curves[0],
        auc=_trapezoid(curves[0], fractions),
        random_scores=curves[1],
        random_auc=_trapezoid(curves[1], fractions),
        baseline=label,
        granularity=granularity,
        window=window,
        method=explanation.method,
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
        array of the series' shape.
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
        Seed of the random reference attribution and of the ``"noise"`` baseline.

    Notes
    -----
    A feature is a (channel, point) or (channel, window) of a per-channel map. A map shared by
    all channels (``per_channel=False``, e.g. Grad-CAM) ranks time points or windows, and a
    removed one is removed in every channel. Ties keep time order. The random reference ranks
    the same features by a uniform random draw.
"""


def deletion(
    model: Any,
    explanation: Explanation,
    *,
    baseline: Any = "zeros",
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
        ``fractions``, ``scores``, ``auc`` and the random reference ``random_scores`` /
        ``random_auc``; ``mean_auc`` is the plain mean over cases.

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
    ``x_k`` the series after ``k`` deletion steps. Higher is better. The random reference is in
    ``deletion(...).random_aopc``.
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
