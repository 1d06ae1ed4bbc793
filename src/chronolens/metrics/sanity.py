"""Model-parameter randomization (Adebayo et al., 2018): does the map depend on the model.

A map that still looks the same once the model's learned weights are replaced by random ones
explains the input, not the model. The test re-initialises the layers of a deep copy of the
model, either cumulatively from the output layer down ("cascading") or one layer at a time
("independent"), explains the same series again and measures the Spearman rank correlation
between the original and the randomized maps. The user's model is never modified.

References
----------
Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim (2018). Sanity checks for saliency maps.
NeurIPS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from chronolens._ranks import spearman
from chronolens._validation import check_choice, check_float, check_int
from chronolens.models import adapt
from chronolens.models._randomize import UncopyableModelError
from chronolens.models.base import CapabilityError
from chronolens.series import Layout, as_series
from chronolens.targets import TargetLike

__all__ = ["RandomizationResult", "UncopyableModelError", "model_randomization"]

RANDOMIZATIONS = ("cascading", "independent")
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True, eq=False)
class RandomizationResult:
    """Rank correlations between the original and the randomized maps, stage by stage.

    Attributes
    ----------
    randomization : {"cascading", "independent"}
    stages : tuple of str
        Stage ``k`` re-initialised ``stages[k]`` (independent) or ``stages[:k + 1]``
        (cascading); layers are listed from the output down, in the order the forward pass
        runs them, reversed.
    absolute : numpy.ndarray of shape (n_stages, n_cases)
        Spearman correlation of the absolute maps (Adebayo et al.'s main measure); 0 where
        either map is constant (it ranks nothing).
    signed : numpy.ndarray of shape (n_stages, n_cases)
        Spearman correlation of the signed maps; 0 where either map is constant.
    threshold : float
        The pass threshold.
    passed : bool
        True when the map changed with the model: the mean over cases of ``|absolute|`` is below
        ``threshold`` at the last cascading stage (every layer randomized), or, for independent
        randomization, averaged over the stages.
    method : str
    """

    randomization: str
    stages: tuple[str, ...]
    absolute: np.ndarray
    signed: np.ndarray
    threshold: float
    passed: bool
    method: str

    @property
    def mean_absolute(self) -> np.ndarray:
        """Mean correlation of the absolute maps per stage, shape (n_stages,)."""
        return self.absolute.mean(axis=1)

    @property
    def mean_signed(self) -> np.ndarray:
        """Mean correlation of the signed maps per stage, shape (n_stages,)."""
        return self.signed.mean(axis=1)

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        rows = [
            f"RandomizationResult({self.method!r}, {self.randomization}, threshold "
            f"{self.threshold}: {verdict})",
            f"  {'stage':<30} {'rho |maps|':>11} {'rho maps':>9}",
        ]
        for stage, a, s in zip(self.stages, self.mean_absolute, self.mean_signed):
            rows.append(f"  {stage:<30} {a:>11.3f} {s:>9.3f}")
        return "\n".join(rows)


def _explainer(method: Any, seed: int, layout: Layout, params: dict[str, Any]) -> Any:
    """Return ``run(model, data, target) -> (attributions (n, c or 1, t), classes or None)``."""
    if callable(method) and not isinstance(method, str):

        def run_callable(model: Any, data: np.ndarray, target: TargetLike) -> Any:
            return as_series(method(model, data), layout, name="the method's map"), None

        run_callable.__name__ = getattr(method, "__name__", "callable")
        return run_callable
    from chronolens._explain import explain
    from chronolens.registry import get_method

    spec = get_method(method)

    def run(model: Any, data: np.ndarray, target: TargetLike) -> Any:
        result = explain(
            model, data, method, target=target, layout=layout, progress=False, seed=seed, **params
        )
        return result.attributions, result.target

    run.__name__ = spec.name
    return run


def _weight_layers(adapted: Any, series: np.ndarray) -> list[str]:
    try:
        layers = adapted.weight_layers(torch.from_numpy(series[:1]))
    except CapabilityError as error:
        raise TypeError(
            "The randomization test re-draws the model's weights, and this model is explained "
            "through its predictions only. Pass the PyTorch or Keras model itself."
        ) from error
    if not layers:
        raise ValueError("`model` has no weights to randomize.")
    return list(layers[::-1])  # from the output layer down


def model_randomization(
    model: Any,
    x: Any,
    method: str | Callable[[Any, np.ndarray], Any],
    *,
    target: TargetLike = None,
    randomization: str = "cascading",
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    clone: Callable[[], Any] | None = None,
    layout: Layout = "ncl",
    **params: Any,
) -> RandomizationResult:
    """Model-parameter randomization test of a method (Adebayo et al., 2018).

    Parameters
    ----------
    model : torch.nn.Module or keras.Model
        The trained model: a PyTorch module or a Keras 3 model on any backend. A copy is
        randomized (``copy.deepcopy`` for PyTorch, ``keras.models.clone_model`` with the same
        weights for Keras); the model itself is never modified.
    x : array-like of shape (n_cases, n_channels, n_timepoints)
        Series to explain ((n_cases, n_timepoints, n_channels) with ``layout="nlc"``).
    method : str or callable
        A registered method name, or ``f(model, x) -> array`` of the map in ``x``'s layout,
        (n_cases, c or 1, t) for "ncl"; it receives the model (or a randomized copy of it)
        and ``x`` in the layout given.
    target : None, int, sequence of int or callable, optional
        Passed to :func:`chronolens.explain`. None explains the trained model's predicted class,
        and the randomized models explain that same class.
    randomization : {"cascading", "independent"}, default="cascading"
        Cascading: re-initialise the layers cumulatively, from the output layer down.
        Independent: re-initialise one layer at a time, the others keep their trained weights.
    threshold : float, default=0.5
        The test passes when the mean ``|Spearman|`` correlation of the absolute maps is below
        this (at the last cascading stage; averaged over stages for independent
        randomization). Adebayo et al. judge by eye; 0.5 is chronolens' documented cut-off: a
        map that keeps more than half of its rank order once the model is random is explaining
        the data rather than the model.
    seed : int, default=0
        Seed of the re-initialisation (and of randomised methods, so both runs use the same
        noise).
    clone : callable, optional
        Returns a fresh copy of the model to randomize (e.g. ``lambda: load_model(path)``) for
        models that cannot be copied, such as ``torch.export`` programs or subclassed Keras
        models without ``get_config`` on TensorFlow and JAX. Default: a copy as above.
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of ``x``: channels before time, or channels last (Keras).
    **params
        Parameters of the method.

    Returns
    -------
    RandomizationResult
        Per-stage correlations (absolute and signed), the threshold and the ``passed`` verdict.

    Notes
    -----
    Layers are the modules (Keras layers) that own trainable weights, from the output layer
    down. Convolutions and linear layers are re-drawn uniformly in ``+-1 / sqrt(fan_in)``
    (PyTorch's default initialisation range); normalisation layers get their scale and shift
    redrawn from a normal distribution with the trained values' mean and standard deviation (at
    least 0.1); running statistics are kept. Layer ``name`` always draws from the same generator
    (seeded by ``seed`` and the name) in PyTorch's weight layout, so cascading and independent
    stages re-draw a layer identically, and a Keras model and its PyTorch twin with the same
    weights and layer names get the same random weights (:mod:`chronolens.models._randomize`).

    Examples
    --------
    >>> import numpy as np
    >>> from chronolens.metrics import model_randomization
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=3, n_classes=2)
    >>> x = np.random.default_rng(0).normal(size=(4, 3, 40)).astype("float32")
    >>> result = model_randomization(model, x, "saliency", target=0)
    >>> result.absolute.shape[1]
    4
    """
    check_choice(randomization, "randomization", RANDOMIZATIONS)
    threshold = check_float(threshold, "threshold", minimum=0.0, maximum=1.0)
    seed = check_int(seed, "seed", minimum=0)
    series = as_series(x, layout)
    data = series if layout == "ncl" else np.ascontiguousarray(series.transpose(0, 2, 1))
    adapted = adapt(model)
    run = _explainer(method, seed, layout, params)
    original, explained = run(model, data, target)
    if target is None and explained is not None:
        target = explained  # the randomized models explain the trained model's classes
    layers = _weight_layers(adapted, series)
    absolute, signed = [], []
    for k, name in enumerate(layers):
        chosen = layers[: k + 1] if randomization == "cascading" else [name]
        after, _ = run(adapted.randomized(chosen, seed, clone), data, target)
        # A map that is constant (e.g. all zero) ranks nothing: correlation 0.
        absolute.append(np.nan_to_num(spearman(np.abs(original), np.abs(after)), nan=0.0))
        signed.append(np.nan_to_num(spearman(original, after), nan=0.0))
    absolute_array, signed_array = np.array(absolute), np.array(signed)
    summary = np.abs(absolute_array.mean(axis=1))
    score = summary[-1] if randomization == "cascading" else summary.mean()
    return RandomizationResult(
        randomization=randomization,
        stages=tuple(layers),
        absolute=absolute_array,
        signed=signed_array,
        threshold=threshold,
        passed=bool(score < threshold),
        method=run.__name__,
    )
