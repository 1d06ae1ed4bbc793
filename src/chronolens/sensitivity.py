"""How much a baseline-dependent map depends on its baseline: the maps and their rank agreement.

Integrated gradients, DeepLIFT, occlusion, Shapley values, LIME, TIMING and the other methods
that take a ``baseline`` answer "relevant compared with what?". :func:`baseline_sensitivity`
runs one of them under several baselines on the same cases, the same target and the same seed,
and reports per case how well the maps' rankings agree (Spearman, ties averaged): a map whose
ranking changes with the baseline is a statement about the baseline as much as about the model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chronolens._explain import explain
from chronolens._ranks import spearman
from chronolens._validation import check_bool, resolve_seed
from chronolens.baselines import check_baseline, describe
from chronolens.explanation import Explanation
from chronolens.registry import REGISTRY, get_method

#: The baselines compared by default (and ``"noise"`` for methods that take a seed).
DEFAULT_BASELINES: tuple[str, ...] = ("zeros", "mean", "blur")


@dataclass(frozen=True)
class BaselineSensitivity:
    """The maps of one method under several baselines, and their per-case rank agreement.

    Attributes
    ----------
    method : str
        The method run.
    baselines : tuple of str
        A label per baseline (its name, ``"constant 0.5"`` or ``"array i"``).
    explanations : tuple of Explanation
        One per baseline, in that order.
    pairwise : ndarray of shape (n_cases, n_baselines, n_baselines)
        Spearman rank correlation of each pair of maps, per case (1 on the diagonal; NaN where
        a map is constant).
    agreement : ndarray of shape (n_cases,)
        Per case, the mean of the off-diagonal pairwise correlations: 1 means the ranking does
        not depend on the baseline.
    """

    method: str
    baselines: tuple[str, ...]
    explanations: tuple[Explanation, ...]
    pairwise: np.ndarray
    agreement: np.ndarray

    def __getitem__(self, baseline: str) -> Explanation:
        """The explanation computed with the baseline labelled ``baseline``."""
        if baseline not in self.baselines:
            raise KeyError(f"No baseline {baseline!r}; these were run: {list(self.baselines)}.")
        return self.explanations[self.baselines.index(baseline)]

    @property
    def mean_pairwise(self) -> np.ndarray:
        """The pairwise correlations averaged over cases, (n_baselines, n_baselines)."""
        return np.nanmean(self.pairwise, axis=0)

    def __str__(self) -> str:
        width = max(len(b) for b in self.baselines)
        head = " " * width + "  " + "  ".join(b.rjust(width) for b in self.baselines)
        rows = [
            b.ljust(width) + "  " + "  ".join(f"{v:>{width}.2f}" for v in row)
            for b, row in zip(self.baselines, self.mean_pairwise)
        ]
        mean = float(np.nanmean(self.agreement))
        return "\n".join(
            [f"{self.method}: rank agreement across baselines (mean {mean:.2f})", head, *rows]
        )


def _labels(baselines: Sequence[Any]) -> tuple[str, ...]:
    labels = []
    for i, baseline in enumerate(baselines):
        kind = describe(baseline)
        label = baseline if isinstance(baseline, str) else f"{kind} {i}"
        if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
            label = f"constant {float(baseline):g}"
        labels.append(label)
    if len(set(labels)) != len(labels):
        raise ValueError(f"`baselines` repeats a baseline: {labels}; pass each one once.")
    return tuple(labels)


def baseline_sensitivity(
    model: Any,
    x: Any,
    method: str = "integrated_gradients",
    baselines: Sequence[Any] | None = None,
    *,
    absolute: bool = True,
    seed: int | None = None,
    **explain_args: Any,
) -> BaselineSensitivity:
    """Run a baseline-dependent method under several baselines and compare the maps' ranks.

    Parameters
    ----------
    model, x
        As for :func:`chronolens.explain`.
    method : str, default="integrated_gradients"
        A registered method that takes a ``baseline`` parameter.
    baselines : sequence, optional
        At least two baselines, each anything the method's ``baseline`` takes. Default:
        ``("zeros", "mean", "blur")``, and ``"noise"`` for randomized methods (Gaussian noise
        with each case's per-channel mean and deviation, drawn from the seed).
    absolute : bool, default=True
        Rank the maps' magnitudes (importance, whatever its sign); False ranks the signed maps.
    seed : int, optional
        One seed for every run (drawn once when None), so only the baseline changes.
    **explain_args
        Passed to :func:`chronolens.explain` for every run (``target``, ``layout``,
        ``batch_size``, the method's other parameters). Each run explains the same target:
        with ``target=None``, the class predicted for each case.

    Returns
    -------
    BaselineSensitivity

    Examples
    --------
    >>> import numpy as np, chronolens as cl
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=2, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(3, 2, 30)).astype("float32")
    >>> result = cl.baseline_sensitivity(model, x, "integrated_gradients", n_steps=8)
    >>> result.baselines
    ('zeros', 'mean', 'blur')
    >>> result.pairwise.shape, result.agreement.shape
    ((3, 3, 3), (3,))
    """
    spec = get_method(method)
    if "baseline" not in spec.parameters:
        takes = [name for name, s in REGISTRY.items() if "baseline" in s.parameters]
        raise ValueError(
            f"Method {method!r} takes no `baseline`, so its map does not depend on one. Methods "
            f"that do: {', '.join(takes)}."
        )
    if baselines is None:
        baselines = (*DEFAULT_BASELINES, "noise") if spec.randomized else DEFAULT_BASELINES
    if "baseline" in explain_args:
        raise TypeError("Pass the baselines to compare as `baselines`, not `baseline`.")
    if isinstance(baselines, str) or len(baselines) < 2:
        raise ValueError(
            f"`baselines` must list at least two baselines to compare; got {baselines!r}. "
            f"For example baselines={list(DEFAULT_BASELINES)}."
        )
    absolute = check_bool(absolute, "absolute")
    for baseline in baselines:
        check_baseline(baseline, name="baselines")
    labels = _labels(baselines)
    seed = resolve_seed(seed)
    if explain_args.get("target") is None:  # one target for every run: the predicted class
        first = explain(model, x, method, baseline=baselines[0], seed=seed, **explain_args)
        explain_args = {**explain_args, "target": first.target}
        runs = [first]
    else:
        runs = []
    runs += [
        explain(model, x, method, baseline=b, seed=seed, **explain_args)
        for b in baselines[len(runs) :]
    ]
    maps = [np.abs(r.attributions) if absolute else r.attributions for r in runs]
    n_cases, k = len(maps[0]), len(maps)
    pairwise = np.ones((n_cases, k, k))
    for i in range(k):
        for j in range(i + 1, k):
            pairwise[:, i, j] = pairwise[:, j, i] = spearman(maps[i], maps[j])
    off = pairwise[:, ~np.eye(k, dtype=bool)].reshape(n_cases, -1)
    with warnings.catch_warnings():  # a case whose maps are all constant: NaN, said above
        warnings.simplefilter("ignore", RuntimeWarning)
        agreement = np.nanmean(off, axis=1)
    return BaselineSensitivity(method, labels, tuple(runs), pairwise, agreement)
