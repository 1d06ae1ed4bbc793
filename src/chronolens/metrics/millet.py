"""MILLET's interpretability metrics (Early et al., ICLR 2024): AOPCR and NDCG@n.

Written from the definitions in the authors' ``interpretability_metrics.py``; an instance is a
time step (every channel of it). Both take maps as arrays or an :class:`Explanation`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from chronolens import baselines
from chronolens._validation import check_choice, check_float, check_int
from chronolens.explanation import Explanation
from chronolens.metrics._references import block_draw
from chronolens.metrics.imputation import check_imputation, impute
from chronolens.models import adapt
from chronolens.models._sequence_inputs import forward_parameters
from chronolens.models.base import Model
from chronolens.series import Layout, as_series


def _maps(attributions: Any, layout: str, name: str) -> np.ndarray:
    """Return ``attributions`` as float64 (n, c, t): an Explanation's, or an array's."""
    if isinstance(attributions, Explanation):
        values = np.asarray(attributions.attributions, dtype=np.float64)
    else:
        values = np.asarray(attributions, dtype=np.float64)
        if values.ndim == 2:
            values = values[:, None, :]
        elif values.ndim == 3 and layout == "nlc":
            values = values.transpose(0, 2, 1)
        elif values.ndim != 3:
            raise ValueError(
                f"`{name}` must have shape (n_cases, n_timepoints) or (n_cases, n_channels, "
                f"n_timepoints) (channels last with layout='nlc'); got shape {values.shape}."
            )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"`{name}` holds NaN or infinite values; these metrics need a finite score at "
            "every time step (unequal-length series are not supported)."
        )
    return values


def _steps(stop: float, step: float) -> np.ndarray:
    """The kept fractions 1, 1 - step, ..., stop, as MILLET computes them."""
    return np.linspace(1, stop, num=math.ceil((1 - stop) / step + 1))


def takes_positions(model: Model) -> bool:
    """True for a PyTorch model whose forward takes ``positions`` (``zoo.mil``'s models)."""
    module = getattr(model, "module", None)
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule):
        return False
    try:
        return any(p.name == "positions" for p in forward_parameters(module.forward))
    except (TypeError, ValueError):
        return False


def _logits(
    model: Model, x: np.ndarray, batch_size: int, positions: np.ndarray | None = None
) -> np.ndarray:
    if positions is not None:  # a model that takes them (takes_positions)
        module = model.module  # type: ignore[attr-defined]
        with model.session(), torch.no_grad():
            out = [
                module(
                    model._to_model(torch.from_numpy(x[i : i + batch_size])),  # type: ignore[attr-defined]
                    positions=torch.from_numpy(positions[i : i + batch_size]),
                )
                .float()
                .cpu()
                .numpy()
                for i in range(0, len(x), batch_size)
            ]
    else:
        out = [
            np.asarray(torch.as_tensor(model.scores(torch.from_numpy(x[i : i + batch_size]))))
            for i in range(0, len(x), batch_size)
        ]
    logits = np.concatenate(out).astype(np.float64)
    if logits.ndim != 2 or logits.shape[0] != len(x):
        raise ValueError(
            f"the model must return logits of shape (n_cases, n_classes); got {logits.shape}."
        )
    return logits


def _perturbed_logit(
    model: Model, x: np.ndarray, order: np.ndarray, n_remove: int, how: tuple[Any, ...]
) -> np.ndarray:
    """Logits of ``x`` with the first ``n_remove`` time steps of ``order`` deleted or masked."""
    mode, fill, batch_size, imputation, noise, seed, blurred = how
    keep = np.ones(order.shape, dtype=bool)
    np.put_along_axis(keep, order[:, :n_remove], False, axis=1)
    if mode == "mask":
        keys = np.stack([np.arange(len(x)), np.full(len(x), n_remove)], axis=1)
        filled = impute(
            x,
            ~keep[:, None, :],
            imputation,
            fill=fill,
            noise=noise,
            seed=seed,
            keys=keys,
            blurred=blurred,
        )
        return _logits(model, filled.astype(np.float32), batch_size)
    shorter = np.stack([case[:, k] for case, k in zip(x, keep)])  # time order kept
    positions = None  # the kept steps' original places, for a model that encodes them
    if takes_positions(model):
        positions = np.stack([np.flatnonzero(k) for k in keep])
    try:
        return _logits(model, shorter, batch_size, positions)
    except Exception as error:
        raise ValueError(
            f"the model failed on series shortened to {shorter.shape[-1]} of {x.shape[-1]} time "
            "steps. mode='delete' (MILLET's AOPCR) removes time steps, so it needs a model that "
            "takes any length (global average pooling or a MIL head); pass mode='mask' to "
            f"replace the steps with `fill` instead. The model raised: {error}"
        ) from error


def _aopc(
    model: Model,
    x: np.ndarray,
    scores: np.ndarray,
    predicted: tuple[np.ndarray, np.ndarray],
    settings: tuple[np.ndarray, tuple[Any, ...]],
) -> np.ndarray:
    """Mean drop of the predicted-class logit over MILLET's steps (divided by all steps)."""
    classes, original = predicted
    steps, how = settings
    order = np.argsort(-scores, axis=1, kind="stable")
    n_time = x.shape[-1]
    total = np.zeros(len(x))
    for kept in steps[1:]:
        logits = _perturbed_logit(model, x, order, int((1 - kept) * n_time), how)
        total += original - logits[np.arange(len(x)), classes]
    return np.asarray(total / len(steps))


def aopcr(
    model: Any,
    x: Any,
    attributions: Any,
    *,
    stop: float = 0.5,
    step: float = 0.05,
    n_random: int = 3,
    seed: int = 72,
    seed_block: int = 16,
    mode: str = "delete",
    fill: float = 0.0,
    reference: str = "point",
    imputation: str = "baseline",
    noise: float = 0.01,
    layout: Layout = "ncl",
    batch_size: int = 64,
) -> np.ndarray:
    """Area over the perturbation curve, minus that of random orders (MILLET's AOPCR).

    The time steps are ranked by the map (largest first; a map with several channels is
    summed over them). At each kept fraction ``1 - step, 1 - 2 step, ..., stop`` the
    ``int((1 - fraction) * t)`` top-ranked steps are removed from the series and the model's raw
    logit of its predicted class (on the unperturbed series) is read again. AOPC is the sum of
    the drops over those steps divided by the number of steps including the unperturbed one
    (11 for the defaults). AOPCR subtracts the mean AOPC of ``n_random`` random orders. Higher
    is better; 0 means no better than random.

    Parameters
    ----------
    model : torch.nn.Module, keras.Model or chronolens Model
        Adapted with :func:`chronolens.models.adapt`; must output logits.
    x : array-like of shape (n_cases, n_channels, n_timepoints)
        The series (channels last with ``layout="nlc"``).
    attributions : Explanation or array-like of shape (n_cases, n_timepoints) or (n_cases,
        n_channels, n_timepoints)
        Each case's map **for the model's predicted class** (e.g. ``explain(..., target=
        "predicted")``).
    stop, step : float, default=0.5, 0.05
        Remove up to ``1 - stop`` of the series, ``step`` of it at a time.
    n_random : int, default=3
        Random orders averaged for the reference.
    seed : int, default=72
        MILLET's seed. Random orders are ``torch.rand`` scores from a generator seeded with
        ``seed`` afresh for every block of ``seed_block`` cases (MILLET evaluates in batches of
        16 and seeds each batch), the ``n_random`` orders drawn one after another.
    seed_block : int, default=16
    mode : {"delete", "mask"}, default="delete"
        ``"delete"`` shortens the series as MILLET does (the model must accept any length:
        global average pooling or a MIL head; a model that fails is refused with a clear
        error). ``"mask"`` keeps the length and fills the removed steps (``imputation``)
        instead, for fixed-length models. MILLET's published code has only deletion: masking
        is chronolens' variant, with MILLET's order, steps, logits and random reference.
    fill : float, default=0.0
        Value written by ``mode="mask"`` with ``imputation="baseline"``, and at a channel
        whose steps are all removed (0 is the mean of z-normalised series).
    reference : {"point", "block", "matched"}, default="point"
        The random orders. ``"point"``: MILLET's, every time step drawn on its own (on a
        periodic series removing scattered steps acts like subsampling, which a map of
        contiguous blocks is then compared with). ``"block"``: the map's own runs of equal
        values along time (summed over channels) in a random order, each run removed whole
        in time order, so a segment map is compared with random segments of its own sizes;
        each run takes the draw of its first step, so for a map without runs it is the point
        reference, draw for draw. ``"matched"``: the reference of the map's shape, which is
        ``"block"`` by that construction (the recommended name).
    imputation : {"baseline", "linear", "noisy_linear", "blur"}, default="baseline"
        What masked steps become with ``mode="mask"``
        (:mod:`chronolens.metrics.imputation`): ``fill``; or values that follow the kept
        steps of each channel (``"blur"``: sigma ``max(1, t // 20) / 2``). Only
        ``"baseline"`` with ``mode="delete"``.
    noise : float, default=0.01
        Standard deviation of the noise of ``imputation="noisy_linear"``.
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of ``x`` and of an ``attributions`` array.
    batch_size : int, default=64
        Rows per model call.

    Returns
    -------
    numpy.ndarray of shape (n_cases,)
        AOPCR per case; the mean is MILLET's reported score.

    Notes
    -----
    MILLET deletes time steps from the input and passes each kept step's original position to
    its positional encoding. So does this function, for a PyTorch model whose forward takes
    ``positions`` (the models of :func:`chronolens.zoo.mil`, whose backbones keep the length):
    ``module(shorter, positions=original_positions)``. Any other model sees the shortened
    series alone; for GAP models (CAM), which have no encoding, the two are the same. Ties in
    the map are broken by time order (a stable sort), as in MILLET.
    The count removed is ``int((1 - fraction) * t)`` on floats, as in MILLET: for ``t = 20``
    the first two steps both remove one point (``(1 - 0.9) * 20`` is just under 2).
    """
    mode = check_choice(mode, "mode", ("delete", "mask"))
    reference = check_choice(reference, "reference", ("point", "block", "matched"))
    imputation, noise = check_imputation(imputation, noise)
    if mode == "delete" and imputation != "baseline":
        raise ValueError(
            f"`imputation={imputation!r}` fills removed steps, which mode='delete' drops; pass "
            "mode='mask' with it, or leave imputation='baseline'."
        )
    check_choice(layout, "layout", ("ncl", "nlc"))
    stop = check_float(stop, "stop", minimum=0.0, maximum=1.0, strict_minimum=True)
    step = check_float(step, "step", minimum=0.0, maximum=1.0 - stop, strict_minimum=True)
    n_random = check_int(n_random, "n_random", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    seed_block = check_int(seed_block, "seed_block", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    fill = check_float(fill, "fill")
    adapter = adapt(model)
    series = as_series(x, layout)
    maps = _maps(attributions, layout, "attributions")
    if maps.shape[0] != series.shape[0] or maps.shape[-1] != series.shape[-1]:
        raise ValueError(
            f"`attributions` must give one map per case of `x` over its {series.shape[-1]} time "
            f"steps; got shape {maps.shape} for x of shape {series.shape}."
        )
    logits = _logits(adapter, series, batch_size)
    classes = logits.argmax(axis=1)
    predicted = (classes, logits[np.arange(len(series)), classes])
    blurred = None  # blurred once: "blur" reads the same smoothed series at every step
    if mode == "mask" and imputation == "blur":
        sigma = max(1, series.shape[-1] // 20) / 2
        blurred = baselines.blur(torch.from_numpy(series).double(), sigma).numpy()
    how = (mode, fill, batch_size, imputation, noise, seed)
    settings = (_steps(stop, step), (*how, blurred))
    summed = maps.sum(axis=1)
    ranked = _aopc(adapter, series, summed, predicted, settings)
    random = np.zeros((n_random, len(series)))
    for start in range(0, len(series), seed_block):
        rows = slice(start, start + seed_block)
        generator = torch.Generator().manual_seed(seed)
        for r in range(n_random):
            scores = torch.rand((len(series[rows]), series.shape[-1]), generator=generator).numpy()
            if reference != "point":
                scores = block_draw(scores, summed[rows])
            part = (classes[rows], predicted[1][rows])
            own = (settings[0], (*how, None if blurred is None else blurred[rows]))
            random[r, rows] = _aopc(adapter, series[rows], scores, part, own)
    return np.asarray(ranked - random.mean(axis=0))


def ndcg_at_n(attributions: Any, mask: Any, *, y: Any = None, layout: str = "ncl") -> np.ndarray:
    """Normalised discounted cumulative gain at n (MILLET's NDCG@n), per case.

    With ``n`` the number of evidence points in the case's mask, the ``n`` points with the
    largest scores are taken in descending order and ``NDCG = sum_i rel_i / log2(i + 2) /
    sum_i 1 / log2(i + 2)`` (``i`` from 0, ``rel_i`` 1 on the mask). 1 is a perfect ranking.
    MILLET scores the map of the **true** class (signed: evidence against counts low).

    Parameters
    ----------
    attributions : Explanation or array-like
        The true class's map per case, (n_cases, n_timepoints) or (n_cases, n_channels,
        n_timepoints) with the shape of ``mask``; or, with ``y``, every class's map
        (n_cases, n_classes, n_timepoints) of a univariate model, of which ``y[i]`` is taken.
    mask : array-like of bool
        True where the evidence is, (n_cases, n_timepoints) or (n_cases, n_channels,
        n_timepoints) (e.g. ``make_webtraffic().mask``).
    y : array-like of int, optional
        True classes, to pick from class-wise maps.
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of 3-D arrays.

    Returns
    -------
    numpy.ndarray of shape (n_cases,)
        NaN for a case whose mask is empty (MILLET raises there). Ties are broken by position
        (first point first); MILLET's ``torch.topk`` leaves their order unspecified.
    """
    layout = check_choice(layout, "layout", ("ncl", "nlc"))
    maps = _maps(attributions, layout, "attributions")
    truth = np.asarray(mask)
    truth = truth[:, None, :] if truth.ndim == 2 else truth
    if truth.ndim == 3 and layout == "nlc":
        truth = truth.transpose(0, 2, 1)
    if y is not None:
        labels = np.asarray(y)
        if labels.shape != (maps.shape[0],) or labels.min() < 0 or labels.max() >= maps.shape[1]:
            raise ValueError(
                f"`y` must hold one class in range({maps.shape[1]}) per case of the class-wise "
                f"maps of shape {maps.shape}; got shape {labels.shape}."
            )
        maps = maps[np.arange(len(maps)), labels.astype(np.int64)][:, None, :]
    if truth.shape != maps.shape:
        raise ValueError(
            f"`mask` must have the shape of the maps, {maps.shape}; got {truth.shape}. Pass the "
            "true class's map per case, or class-wise maps with `y=`."
        )
    out = np.full(len(maps), np.nan)
    for i, (scores, marked) in enumerate(
        zip(maps.reshape(len(maps), -1), truth.reshape(len(maps), -1))
    ):
        n = int(marked.sum())
        if n == 0:
            continue
        top = np.argsort(-scores, kind="stable")[:n]
        discount = 1.0 / np.log2(np.arange(n) + 2.0)
        out[i] = float((marked[top] * discount).sum() / discount.sum())
    return out
