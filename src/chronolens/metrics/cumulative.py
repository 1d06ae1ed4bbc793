"""Cumulative prediction difference and preservation (CPD, CPP; Jang, Kim, Yang, ICML 2025).

Remove a series' points one at a time (or ``step`` at a time) in the order of the map, each
replaced by the baseline, and add up how much the model's output moves between consecutive
steps. CPD removes the most relevant points first: a faithful map makes the output move a lot
(higher is better). CPP removes the least relevant first: a faithful map leaves the output
almost still (lower is better). Because every step's change counts in absolute value, points
whose removals push the output in opposite directions do not cancel, unlike the end-point
difference of a deletion curve.

The choices follow the authors' code (``real/cumulative_difference.py`` of TIMING): the output
is the softmax probabilities of every class, a step's change is the mean over classes of the
absolute change, the points are ranked by the absolute attribution (TIMING ranks absolute maps)
and a case's score is the sum over the steps, unnormalised; the mean over cases is their
reported number.

References
----------
Jang, Kim, Yang (2025). TIMING: Temporality-aware integrated gradients for time series
explanation. ICML.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from chronolens import baselines
from chronolens._batching import chunks, resolve_batch_size
from chronolens._validation import check_batch_size, check_bool, check_choice, check_int
from chronolens.explanation import Explanation
from chronolens.metrics._rerun import check_explanation, per_case_by_length
from chronolens.models import adapt
from chronolens.models.base import Model
from chronolens.targets import Target, TargetLike, binary_kind, resolve_target

OUTPUTS = ("probabilities", "scores")


def _n_removed(n_points: Any, n_features: int) -> int:
    """How many points are removed: a count, or ``int(fraction * n_features)`` (TIMING)."""
    if isinstance(n_points, bool) or not isinstance(n_points, numbers.Real):
        raise TypeError(f"`n_points` must be an int or a fraction in (0, 1]; got {n_points!r}.")
    if isinstance(n_points, numbers.Integral):
        count = int(n_points)
    else:
        if not 0 < float(n_points) <= 1:
            raise ValueError(f"A fractional `n_points` must be in (0, 1]; got {n_points}.")
        count = int(float(n_points) * n_features)
    if not 1 <= count <= n_features:
        raise ValueError(
            f"`n_points`={n_points!r} removes {count} points, but the map ranks {n_features} "
            f"(channels x time points); pass a count in 1.."
            f"{n_features} or a fraction such as 0.2."
        )
    return count


def _probabilities(output: torch.Tensor, kind: str | None) -> torch.Tensor:
    """Class probabilities of a raw output whose kind was read once from the unperturbed cases."""
    values = output.detach().double()
    if values.shape[1] == 1:
        p = values[:, 0] if kind == "probability" else torch.sigmoid(values[:, 0])
        return torch.stack([1 - p, p], dim=1)
    return values if kind == "probability" else torch.softmax(values, dim=1)


def _output_kind(output: torch.Tensor) -> str | None:
    """``"probability"`` when every row already is a probability vector (or a sigmoid column)."""
    if output.ndim != 2:
        raise ValueError(
            f"CPD and CPP read class scores of shape (n_cases, n_classes); the model returns "
            f"shape {tuple(output.shape)}. Pass a callable `target` and output='scores'."
        )
    if output.shape[1] == 1:
        return binary_kind(output)
    values = output.detach().double()
    rows_sum_to_one = torch.allclose(values.sum(dim=1), torch.ones_like(values[:, 0]), atol=1e-4)
    return "probability" if bool((values >= 0).all()) and rows_sum_to_one else None


class _Readout:
    """What a step's change is measured on: (rows, m) values per model output."""

    def __init__(self, output: str, target: TargetLike, first: torch.Tensor) -> None:
        self.output = output
        self.kind = _output_kind(first) if not callable(target) else None
        self.resolved: Target | None = None
        if target is not None:
            self.resolved = resolve_target(target, first)
            if self.resolved.fn is not None and output == "probabilities":
                raise ValueError(
                    "A callable `target` scores the model's raw output, so it needs "
                    "output='scores'."
                )

    def __call__(self, output: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        if self.output == "probabilities":
            values = _probabilities(output, self.kind)
            if self.resolved is None:
                return values
            assert self.resolved.indices is not None
            return values.gather(1, self.resolved.indices[rows][:, None])
        if self.resolved is None:
            return output.detach().double()
        return self.resolved.take(rows).select(output).detach().double()[:, None]


def _ranks(values: np.ndarray, most_first: bool) -> np.ndarray:
    """Rank (0 = removed first) of each point; ties go in time order, then channel order."""
    n, c, t = values.shape
    flat = values.transpose(0, 2, 1).reshape(n, -1)  # time-major: a time point's channels adjoin
    order = np.argsort(-flat if most_first else flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None], axis=1)
    return ranks.reshape(n, t, c).transpose(0, 2, 1)


def _step_changes(
    adapter: Model,
    x: np.ndarray,
    replaced: np.ndarray,
    ranks: np.ndarray,
    counts: np.ndarray,
    readout: _Readout,
    rows: int,
) -> np.ndarray:
    """Mean absolute change of the readout between consecutive steps, (n_cases, n_steps)."""
    n, c, t = x.shape
    n_states = len(counts)
    out = np.empty((n, n_states - 1))
    for start, stop in chunks(n, max(1, rows // n_states)):
        removed = ranks[start:stop, None] < counts[None, :, None, None]
        removed = np.broadcast_to(removed, (stop - start, n_states, c, t))
        series = np.where(removed, replaced[start:stop, None], x[start:stop, None])
        batch = torch.from_numpy(np.ascontiguousarray(series, dtype=np.float32).reshape(-1, c, t))
        cases = torch.arange(start, stop).repeat_interleave(n_states)
        values = torch.cat(
            [readout(adapter.scores(batch[a:b]), cases[a:b]) for a, b in chunks(len(batch), rows)]
        )
        steps = values.reshape(stop - start, n_states, -1).cpu().numpy()
        out[start:stop] = np.abs(np.diff(steps, axis=1)).mean(axis=2)
    return out


def _cumulative(
    most_first: bool,
    model: Any,
    explanation: Explanation,
    *,
    n_points: Any,
    step: int,
    baseline: Any,
    absolute: bool,
    output: str,
    target: TargetLike,
    batch_size: int | str,
    seed: int,
) -> np.ndarray:
    check_explanation(explanation)
    check_choice(output, "output", OUTPUTS)
    check_bool(absolute, "absolute")
    step = check_int(step, "step", minimum=1)
    batch_size = check_batch_size(batch_size)
    seed = check_int(seed, "seed", minimum=0)
    baseline = baselines.check_baseline(baseline)

    def run(part: Explanation, aim: TargetLike) -> np.ndarray:
        x = part.x
        n, c, t = x.shape
        cut = isinstance(baseline, np.ndarray) and explanation.lengths is not None
        own = baseline[..., :t] if cut else baseline
        # a map shared by the channels is repeated over them: a point is always one value
        values = np.broadcast_to(part.attributions.astype(np.float64), (n, c, t))
        values = np.abs(values) if absolute else values
        count = _n_removed(n_points, c * t)
        counts = np.unique(np.r_[np.arange(0, count, step), count])
        series = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        replaced = baselines.replacement(own, series, seed=seed, window=max(1, t // 20))
        assert replaced is not None
        adapter = adapt(model)
        with adapter.session():
            rows = resolve_batch_size(batch_size, adapter, c, t)
            first = torch.cat([adapter.scores(series[a:b]).detach() for a, b in chunks(n, rows)])
            readout = _Readout(output, aim, first)
            changes = _step_changes(
                adapter, x, replaced.numpy(), _ranks(values, most_first), counts, readout, rows
            )
        return changes.sum(axis=1)

    if isinstance(baseline, np.ndarray) and explanation.lengths is not None and baseline.ndim == 3:
        raise ValueError(
            "An array `baseline` per case cannot be cut to unequal lengths; pass a named baseline, "
            "a number or an array of shape (n_channels, n_timepoints)."
        )
    return per_case_by_length(explanation, run, target)


_PARAMETERS = """
    Parameters
    ----------
    model : torch.nn.Module or chronolens.models.Model
        The explained model; any adapter works, black boxes included (only its outputs are
        read). It is never modified.
    explanation : Explanation
        The map to test; its series ``x`` is perturbed (a copy: the explanation is unchanged).
    n_points : int or float, default=50
        How many points are removed: a count (TIMING's experiments use 50 and 100), or a
        fraction in (0, 1] of the points the map ranks, ``int(fraction * n_points_ranked)`` as
        in TIMING. A point is one (channel, time point) value. A map shared by all channels
        (Grad-CAM) is repeated over the channels, so ``n_points`` replaces as many values for
        every kind of map. Ties go in time order, and a time point's channels in channel order
        (so a shared map's time points go whole).
    step : int, default=1
        Points removed per step (TIMING: 1). The last step removes the remainder.
    baseline : {"zeros", "mean", "noise", "local_mean", "blur"}, float or array, default="zeros"
        What a removed point becomes (see :mod:`chronolens.baselines`; TIMING uses zeros and
        each channel's mean over time, ``"mean"``). ``"local_mean"`` is the centred moving
        average and ``"blur"`` a Gaussian of standard deviation, both over
        ``max(1, n_timepoints // 20)`` points.
    absolute : bool, default=True
        Rank points by absolute attribution (TIMING's maps are absolute); False ranks the signed
        values (evidence for the class first for CPD, evidence against it first for CPP).
    output : {"probabilities", "scores"}, default="probabilities"
        What a step's change is measured on. "probabilities": the class probabilities, the
        softmax of the model's output (TIMING), or the output itself when every row already
        sums to 1; a single-column head gives (1 - p, p), p its sigmoid (or itself if in
        [0, 1]). "scores": the model's output as it is (logits, usually).
    target : None, int, sequence of int or callable, optional
        None (TIMING): every class counts, a step's change is the mean over classes of the
        absolute change. An int or one int per case: that class only (e.g. ``target=
        explanation.target``). A callable scores the raw output (needs ``output="scores"``).
    batch_size : int or "auto", default="auto"
        Rows per model call.
    seed : int, default=0
        Seed of the ``"noise"`` baseline.
"""


def cpd(
    model: Any,
    explanation: Explanation,
    *,
    n_points: int | float = 50,
    step: int = 1,
    baseline: Any = "zeros",
    absolute: bool = True,
    output: str = "probabilities",
    target: TargetLike = None,
    batch_size: int | str = "auto",
    seed: int = 0,
) -> np.ndarray:
    """Cumulative prediction difference: the output's total movement as the top points go.

    ``CPD = sum over k of mean_classes |p(x_k) - p(x_{k-1})|``, with ``x_k`` the series after
    the ``k``-th step of removing points, most relevant first. Higher is better.
    {parameters}

    Returns
    -------
    numpy.ndarray of shape (n_cases,)
        ``np.mean`` gives TIMING's reported number.

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.metrics import cpd
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=2, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(3, 2, 16)).astype("float32")
    >>> cpd(model, cl.explain(model, x, "saliency"), n_points=10).shape
    (3,)
    """
    return _cumulative(
        True,
        model,
        explanation,
        n_points=n_points,
        step=step,
        baseline=baseline,
        absolute=absolute,
        output=output,
        target=target,
        batch_size=batch_size,
        seed=seed,
    )


def cpp(
    model: Any,
    explanation: Explanation,
    *,
    n_points: int | float = 50,
    step: int = 1,
    baseline: Any = "zeros",
    absolute: bool = True,
    output: str = "probabilities",
    target: TargetLike = None,
    batch_size: int | str = "auto",
    seed: int = 0,
) -> np.ndarray:
    """Cumulative prediction preservation: the output's movement as the least relevant go.

    The sum of CPD with the points removed least relevant first. Lower is better: what the map
    calls irrelevant should not move the output.
    {parameters}

    Returns
    -------
    numpy.ndarray of shape (n_cases,)

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.metrics import cpp
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=2, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(3, 2, 16)).astype("float32")
    >>> cpp(model, cl.explain(model, x, "saliency"), n_points=0.25, step=2).shape
    (3,)
    """
    return _cumulative(
        False,
        model,
        explanation,
        n_points=n_points,
        step=step,
        baseline=baseline,
        absolute=absolute,
        output=output,
        target=target,
        batch_size=batch_size,
        seed=seed,
    )


for _function in (cpd, cpp):
    _function.__doc__ = (_function.__doc__ or "").replace("{parameters}", _PARAMETERS.strip())
