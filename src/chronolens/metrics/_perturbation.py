"""The engine of the removal curves: ranks, targets, replacement values and scored steps.

Shared by :mod:`chronolens.metrics.faithfulness` (deletion, insertion, AOPC) and
:mod:`chronolens.metrics.road` (ROAD). A feature is a (channel, point) or (channel, window) of a
per-channel map, a time point or window of a shared map; its rank is spread back to its points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from chronolens import baselines
from chronolens._batching import chunks
from chronolens.explanation import Explanation
from chronolens.metrics.imputation import impute
from chronolens.models.base import Model
from chronolens.targets import Target, TargetLike, binary_kind, resolve_target


def trapezoid(scores: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Area under each row of ``scores`` over ``fractions`` (trapezoidal rule)."""
    return ((scores[:, 1:] + scores[:, :-1]) / 2 * np.diff(fractions)).sum(axis=1)


def grouped(values: np.ndarray, windows: np.ndarray, n_windows: int) -> np.ndarray:
    """Mean of ``values`` (n, rows, t) over each window: shape (n, rows, n_windows)."""
    n, rows, _ = values.shape
    out = np.zeros((n, rows, n_windows))
    for index in range(n_windows):
        out[..., index] = values[..., windows == index].mean(axis=-1)
    return out


def feature_ranks(features: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Rank (0 = largest) of each feature of (n, rows, n_windows), spread back to points.

    Ties keep time order (a stable sort), channel by channel.
    """
    n, rows, n_windows = features.shape
    flat = features.reshape(n, -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None], axis=1)
    return ranks.reshape(n, rows, n_windows)[..., windows]


def resolve(
    adapter: Model, explanation: Explanation, target: TargetLike, batch_size: int
) -> Target:
    """The scored output of every case: the explanation's own target, or ``target``."""
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


def replacement(
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


def check_array_baseline(baseline: Any, shape: tuple[int, ...]) -> Any:
    """Check a baseline against the explained series; return it checked."""
    baseline = baselines.check_baseline(baseline)
    if isinstance(baseline, np.ndarray) and baseline.shape != shape:
        raise ValueError(
            f"An array `baseline` must have the shape of the explained series {shape}; got "
            f"{baseline.shape}. Pass one of {', '.join(repr(b) for b in baselines.NAMES)} or a "
            "number instead."
        )
    return baseline


@dataclass(frozen=True)
class Removal:
    """How removed points are filled: the series, the baseline values and the imputation."""

    x: np.ndarray
    fill: np.ndarray
    imputation: str
    noise: float
    sigma: float
    seed: int

    def blurred(self) -> np.ndarray | None:
        """The blurred series for ``"blur"``, once; None otherwise."""
        if self.imputation != "blur":
            return None
        series = torch.from_numpy(np.ascontiguousarray(self.x, dtype=np.float64))
        return baselines.blur(series, self.sigma).numpy()

    def series(self, cases: slice, missing: np.ndarray, blurred: np.ndarray | None) -> np.ndarray:
        """Cases ``cases`` with ``missing`` (cases, steps, c, t) filled: (cases * steps, c, t)."""
        n_cases, n_steps, c, t = missing.shape
        start = cases.start or 0
        keys = np.stack(
            np.meshgrid(np.arange(start, start + n_cases), np.arange(n_steps), indexing="ij"),
            axis=-1,
        ).reshape(-1, 2)
        shape = (n_cases * n_steps, c, t)
        repeat = lambda a: np.broadcast_to(a[cases, None], missing.shape).reshape(shape)  # noqa: E731
        out = impute(
            repeat(self.x),
            missing.reshape(shape),
            self.imputation,
            fill=repeat(self.fill),
            noise=self.noise,
            sigma=self.sigma,
            seed=self.seed,
            keys=keys,
            blurred=None if blurred is None else repeat(blurred),
        )
        return np.ascontiguousarray(out, dtype=np.float32)


def scored_steps(
    adapter: Model,
    removal: Removal,
    missing_at: Any,
    n_points: int,
    rows: int,
) -> np.ndarray:
    """The raw model output after each step, (n, n_points, *output shape of one row).

    ``missing_at(cases)`` gives the removed points of those cases at every step, shape
    (cases, n_points, c or 1, t).
    """
    n, c, t = removal.x.shape
    blurred = removal.blurred()
    parts = []
    for start, stop in chunks(n, max(1, rows // n_points)):
        missing = np.broadcast_to(missing_at(slice(start, stop)), (stop - start, n_points, c, t))
        batch = torch.from_numpy(removal.series(slice(start, stop), missing, blurred))
        outputs = [adapter.scores(batch[a:b]).detach().cpu() for a, b in chunks(len(batch), rows)]
        parts.append(torch.cat(outputs).double())
    output = torch.cat(parts)
    return output.reshape(n, n_points, *output.shape[1:]).numpy()


def selected(output: np.ndarray, resolved: Target) -> np.ndarray:
    """The explained score of every case and step of ``output`` (n, steps, ...): (n, steps)."""
    n, steps = output.shape[:2]
    flat = torch.from_numpy(output.reshape(n * steps, *output.shape[2:]))
    target = resolved.take(torch.arange(n).repeat_interleave(steps))
    return target.select(flat).double().numpy().reshape(n, steps)
