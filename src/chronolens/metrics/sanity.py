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

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from chronolens._ranks import spearman
from chronolens._validation import check_choice, check_float, check_int
from chronolens.series import as_series
from chronolens.targets import TargetLike

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


def _parameter_layers(module: nn.Module, x: torch.Tensor) -> list[str]:
    """Modules that own parameters, from the output layer down (forward order, reversed).

    The forward order is recorded with hooks on a copy; where hooks are not supported
    (TorchScript) the definition order is used.
    """
    owners = {
        name: m
        for name, m in module.named_modules()
        if name and any(True for _ in m.parameters(recurse=False))
    }
    order: list[str] = []
    handles = []
    try:
        for name, m in owners.items():
            handles.append(m.register_forward_hook(lambda *_, name=name: order.append(name)))
        with torch.no_grad():
            module.eval()
            module(x[:1])
    except RuntimeError:
        order = []  # no hooks (TorchScript): fall back to definition order
    finally:
        for handle in handles:
            handle.remove()
    seen = list(dict.fromkeys(order))
    seen += [name for name in owners if name not in seen]
    return seen[::-1]


_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def _randomize(layer: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise a layer's own parameters (a copy's: never the user's model)."""
    with torch.no_grad():
        for parameter in layer.parameters(recurse=False):
            if isinstance(layer, _NORMS):
                mean = float(parameter.mean())
                std = float(parameter.std()) if parameter.numel() > 1 else 0.0
                draw = torch.randn(parameter.shape, generator=generator)
                parameter.copy_(mean + max(std, 0.1) * draw)
            elif parameter.ndim >= 2:
                bound = 1.0 / np.sqrt(parameter[0].numel())
                parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound)
            else:
                fan_in = max(parameter.numel(), 1)
                bound = 1.0 / np.sqrt(fan_in)
                parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound)


class UncopyableModelError(ValueError):
    """The model cannot be deep-copied, so its weights cannot be randomized safely."""


def _copy(model: nn.Module, clone: Callable[[], nn.Module] | None) -> nn.Module:
    """A deep copy of the model (or a fresh one from ``clone``); only copies are randomized."""
    if clone is not None:
        fresh = clone()
        if fresh is model or not isinstance(fresh, nn.Module):
            raise TypeError(
                "`clone` must return a new torch.nn.Module equal to the model, e.g. "
                "`lambda: load_model(path)`; it returned "
                f"{'the model itself' if fresh is model else type(fresh).__name__}."
            )
        return fresh
    try:
        return copy.deepcopy(model)
    except Exception as error:
        raise UncopyableModelError(
            f"The model ({type(model).__name__}) cannot be deep-copied ({type(error).__name__}), "
            "and the randomization test never modifies the model itself. Run the test on the "
            "original torch.nn.Module, or pass `clone=` to load a fresh copy from its file."
        ) from None


def _explainer(method: Any, seed: int, params: dict[str, Any]) -> Callable[..., Any]:
    """Return ``run(model, x, target) -> (attributions, explained classes or None)``."""
    if callable(method) and not isinstance(method, str):

        def run_callable(model: nn.Module, x: np.ndarray, target: TargetLike) -> Any:
            return np.asarray(method(model, x), dtype=np.float64), None

        run_callable.__name__ = getattr(method, "__name__", "callable")
        return run_callable
    from chronolens._explain import explain
    from chronolens.registry import get_method

    spec = get_method(method)

    def run(model: nn.Module, x: np.ndarray, target: TargetLike) -> Any:
        result = explain(model, x, method, target=target, progress=False, seed=seed, **params)
        return result.attributions.astype(np.float64), result.target

    run.__name__ = spec.name
    return run


def model_randomization(
    model: nn.Module,
    x: Any,
    method: str | Callable[[nn.Module, np.ndarray], Any],
    *,
    target: TargetLike = None,
    randomization: str = "cascading",
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    clone: Callable[[], nn.Module] | None = None,
    **params: Any,
) -> RandomizationResult:
    """Model-parameter randomization test of a method (Adebayo et al., 2018).

    Parameters
    ----------
    model : torch.nn.Module
        The trained model. A deep copy is randomized; the model itself is never modified.
    x : array-like of shape (n_cases, n_channels, n_timepoints)
        Series to explain.
    method : str or callable
        A registered method name, or ``f(model, x) -> array (n_cases, c or 1, t)``.
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
        models that ``copy.deepcopy`` cannot copy, such as ``torch.export`` programs. Default:
        ``copy.deepcopy(model)``.
    **params
        Parameters of the method.

    Returns
    -------
    RandomizationResult
        Per-stage correlations (absolute and signed), the threshold and the ``passed`` verdict.

    Notes
    -----
    Layers are the modules that own parameters. Convolutions and linear layers are re-drawn
    uniformly in ``+-1 / sqrt(fan_in)`` (PyTorch's default initialisation range); normalisation
    layers get their scale and shift redrawn from a normal distribution with the trained values'
    mean and standard deviation (at least 0.1); running statistics are kept.

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
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"`model` must be a torch.nn.Module (its weights are randomized on a copy); got "
            f"{type(model).__name__}."
        )
    check_choice(randomization, "randomization", RANDOMIZATIONS)
    threshold = check_float(threshold, "threshold", minimum=0.0, maximum=1.0)
    seed = check_int(seed, "seed", minimum=0)
    series = as_series(x)
    run = _explainer(method, seed, params)
    original, explained = run(model, series, target)
    if target is None and explained is not None:
        target = explained  # the randomized models explain the trained model's classes
    layers = _parameter_layers(_copy(model, clone), torch.from_numpy(series))
    if not layers:
        raise ValueError("`model` has no parameters to randomize.")
    generator = torch.Generator().manual_seed(seed)
    cascade = _copy(model, clone)
    absolute, signed = [], []
    for name in layers:
        randomized = cascade if randomization == "cascading" else _copy(model, clone)
        _randomize(dict(randomized.named_modules())[name], generator)
        after, _ = run(randomized, series, target)
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
