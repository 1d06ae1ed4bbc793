"""What the robustness and stability metrics share: targets, seeded draws, re-runs, lengths.

The explained target, seeded per-case draws, the explanation's method re-run on other inputs,
and unequal lengths one length at a time.

Draws for case ``i`` come from ``numpy.random.default_rng([seed, i])``, as the ``"noise"``
baseline's do (:mod:`chronolens.baselines`): a case's draws depend on the seed and its own index
only, never on the other cases or on the batch size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chronolens.explanation import Explanation
from chronolens.series import Layout
from chronolens.targets import TargetLike


def check_explanation(explanation: Any) -> Explanation:
    """``explanation`` itself, or a TypeError saying how to make one."""
    if not isinstance(explanation, Explanation):
        raise TypeError(
            f"`explanation` must be a chronolens Explanation; got {type(explanation).__name__}. "
            "Make one with chronolens.explain(model, x, method=...)."
        )
    return explanation


def per_case_by_length(
    explanation: Explanation,
    run: Callable[[Explanation, TargetLike], np.ndarray],
    target: TargetLike,
) -> np.ndarray:
    """``run(part, target)`` on each equal-length group of cases, unpadded, in case order.

    Equal-length data is one group. A per-case ``target`` is cut to each group.
    """
    if explanation.lengths is None:
        return run(explanation, target)
    per_case = target is not None and not callable(target) and np.ndim(target) == 1
    out = np.full(explanation.n_cases, np.nan)
    for index, part in explanation.by_length():
        aim = np.asarray(target)[index].tolist() if per_case else target
        out[index] = run(part, aim)
    return out


def explained_target(explanation: Explanation, target: TargetLike) -> TargetLike:
    """The target a re-run explains: ``target`` if given, else the explanation's own classes."""
    if target is not None:
        return target
    if explanation.target is None:
        raise ValueError(
            "This explanation was made for a callable `target`, which is not stored with it; "
            "pass the same `target=` to the metric."
        )
    return explanation.target.tolist()


def case_draws(
    seed: int, n_cases: int, shape: tuple[int, ...], draw: Callable[[np.random.Generator], Any]
) -> np.ndarray:
    """``draw(numpy.random.default_rng([seed, i]))`` for every case ``i``, stacked (float64)."""
    out = [
        np.asarray(draw(np.random.default_rng([seed, i])), dtype=np.float64) for i in range(n_cases)
    ]
    for i, values in enumerate(out):
        if values.shape != shape:
            raise ValueError(
                f"The perturbation of case {i} has shape {values.shape}; expected {shape} "
                "(n_samples, n_channels, n_timepoints)."
            )
        if not np.isfinite(values).all():
            raise ValueError(f"The perturbation of case {i} holds NaN or infinite values.")
    return np.stack(out) if out else np.empty((0, *shape))


def custom_draws(
    perturbation: Callable[[np.ndarray, np.random.Generator], Any],
    x: np.ndarray,
    n_samples: int,
    seed: int,
) -> np.ndarray:
    """A user's ``perturbation(copies, rng)`` on each case's ``n_samples`` copies, stacked."""
    if not callable(perturbation):
        raise TypeError(
            "`perturbation` must be None or a callable `perturbation(x, rng)` taking one case's "
            "copies, shape (n_samples, n_channels, n_timepoints), and a numpy Generator; got "
            f"{type(perturbation).__name__}."
        )
    shape = (n_samples, *x.shape[1:])
    cases = iter(range(len(x)))

    def draw(rng: np.random.Generator) -> Any:
        copies = np.repeat(x[next(cases)][None], n_samples, axis=0)
        return perturbation(copies, rng)

    return case_draws(seed, len(x), shape, draw)


def check_rerunnable(explanation: Explanation) -> None:
    """A clear error for unequal lengths explained with an array parameter (or ``pad_value``)."""
    if explanation.lengths is None:
        return
    arrays = [name for name, value in explanation.params.items() if np.ndim(value) >= 2]
    if arrays:
        raise ValueError(
            f"This metric re-runs the method on each length, unpadded, and this explanation of "
            f"unequal-length series holds the array parameter(s) {', '.join(arrays)} of the "
            "padded series (``pad_value`` holds a named baseline on the padding as an array). "
            "Explain with pad_value=None and a named or constant baseline."
        )


def rerun(
    model: Any,
    explanation: Explanation,
    series: np.ndarray,
    *,
    target: TargetLike,
    batch_size: int | str,
    params: dict[str, Any] | None = None,
) -> np.ndarray:
    """The explanation's method, with its recorded parameters (and seed), on ``series``.

    ``series`` is (n_cases, n_channels, n_timepoints) in the chronolens layout, one row per case
    of the explanation; ``params`` overrides recorded parameters (``seed`` included). Returns the
    attributions, float64, (n_cases, n_channels or 1, n_timepoints).
    """
    from chronolens._explain import explain
    from chronolens.registry import REGISTRY

    if explanation.method not in REGISTRY:
        raise ValueError(
            f"This metric re-runs the explanation's method, and {explanation.method!r} is not a "
            "registered method. Register it (chronolens.register) or explain with one of "
            f"{', '.join(REGISTRY)}."
        )
    recorded = {**explanation.params, **(params or {})}
    seed = recorded.pop("seed", None)
    layer = recorded.pop("layer", None)
    layout: Layout = "nlc" if explanation.layout == "nlc" else "ncl"
    data = series if layout == "ncl" else series.transpose(0, 2, 1)
    result = explain(
        model,
        np.ascontiguousarray(data, dtype=np.float32),
        explanation.method,
        target=target,
        layer=layer,
        layout=layout,
        batch_size=batch_size,
        seed=seed,
        progress=False,
        **recorded,
    )
    return result.attributions.astype(np.float64)
