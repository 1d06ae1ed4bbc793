"""What a removed point becomes in a removal metric: a baseline value, or a value from the data.

Removal metrics (deletion, insertion, AOPC, ROAD, AOPCR by masking) replace points of a series
and read the model again. A constant such as 0 is far off a smooth series, so the replacement
alone moves the score, and scattered removed points on a periodic series act like subsampling.
The imputations here follow the kept data instead:

- ``"baseline"``: the ``fill`` values (the metric's ``baseline``): today's behaviour.
- ``"linear"``: each removed point linearly interpolated along time from the nearest kept
  points of the same channel; before the first and after the last kept point the edge value is
  held.
- ``"noisy_linear"``: ROAD's noisy linear imputation (Rong et al., 2022), written for time:
  each removed point is the weighted mean of its two time neighbours (weight 1/2 each; a point
  at an end has one), kept or themselves imputed, which is one sparse linear system per series,
  plus Gaussian noise of standard deviation ``noise`` (absolute, in the units of the series).
  On a line the noiseless solution is exactly the linear interpolation with edges held; the
  noise keeps the model from reading the removed region from its straight shape.
- ``"blur"``: the series smoothed by a Gaussian of standard deviation ``sigma`` (reflected
  edges, :func:`chronolens.baselines.blur`) at the removed points. The blurred value still holds
  part of the removed point (a leak the other imputations do not have).

With ``"linear"`` and ``"noisy_linear"`` a channel with no kept point has nothing to follow
and takes the ``fill`` values (``"blur"`` reads the series itself and needs no kept point).
The noise of ``"noisy_linear"`` for row ``i`` comes from
``numpy.random.default_rng([seed, *keys[i]])``: it depends on the seed and the row's key (case
and step), never on the chunking.

References
----------
Rong, Leemann, Borisov, Kasneci, Kasneci (2022). A consistent and efficient evaluation strategy
for attribution methods. ICML.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import spsolve

from chronolens import baselines
from chronolens._validation import check_choice, check_float

#: Every imputation, in the order of the documentation.
IMPUTATIONS: tuple[str, ...] = ("baseline", "linear", "noisy_linear", "blur")

#: ROAD's neighbourhood written for time: (offset along time, weight).
NEIGHBOURS: tuple[tuple[int, float], ...] = ((-1, 0.5), (1, 0.5))


def check_imputation(imputation: str, noise: float) -> tuple[str, float]:
    """Check ``imputation`` and ``noise``; return them."""
    imputation = check_choice(imputation, "imputation", IMPUTATIONS)
    noise = check_float(noise, "noise", minimum=0.0)
    return imputation, noise


def linear(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Linear interpolation of the missing points from the kept ones, per row, edges held.

    ``x`` and ``missing`` have shape (rows, t). Rows with no kept point are returned unchanged
    (the caller fills them).
    """
    rows, t = x.shape
    index = np.broadcast_to(np.arange(t), (rows, t))
    previous = np.maximum.accumulate(np.where(missing, -1, index), axis=1)
    following = np.where(missing, t, index)[:, ::-1]
    following = np.minimum.accumulate(following, axis=1)[:, ::-1]
    has_previous, has_following = previous >= 0, following < t
    left = np.take_along_axis(x, np.clip(previous, 0, t - 1), axis=1)
    right = np.take_along_axis(x, np.clip(following, 0, t - 1), axis=1)
    both = has_previous & has_following & (following > previous)
    share = np.where(both, index - previous, 0) / np.where(both, following - previous, 1)
    between = left + (right - left) * share
    value = np.where(has_previous, np.where(has_following, between, left), right)
    return np.where(missing & (has_previous | has_following), value, x)


def neighbour_system(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Solve ROAD's linear system for the missing points of every row at once.

    For each missing point ``i`` with valid neighbours ``j`` (inside the row) of weights
    ``w_j``: ``sum_j w_j * x_i = sum_j w_j * x_j``, kept neighbours moved to the right-hand
    side. Rows without a kept point are left out (singular) and returned unchanged.
    """
    rows, t = x.shape
    solvable = missing & ~missing.all(axis=1, keepdims=True)
    flat = np.flatnonzero(solvable)
    if len(flat) == 0:
        return x.copy()
    variable = np.full(rows * t, -1, dtype=np.int64)
    variable[flat] = np.arange(len(flat))
    values, kept = x.reshape(-1), ~missing.reshape(-1)
    position = flat % t
    diagonal = np.zeros(len(flat))
    rhs = np.zeros(len(flat))
    row_index, column_index, entries = [], [], []
    for offset, weight in NEIGHBOURS:
        inside = (position + offset >= 0) & (position + offset < t)
        neighbour = flat[inside] + offset
        diagonal[inside] += weight
        known = kept[neighbour]
        rhs[np.flatnonzero(inside)[known]] += weight * values[neighbour[known]]
        row_index.append(np.flatnonzero(inside)[~known])
        column_index.append(variable[neighbour[~known]])
        entries.append(np.full(int((~known).sum()), -weight))
    row_index.append(np.arange(len(flat)))
    column_index.append(np.arange(len(flat)))
    entries.append(diagonal)
    system = csc_matrix(
        (np.concatenate(entries), (np.concatenate(row_index), np.concatenate(column_index))),
        shape=(len(flat), len(flat)),
    )
    out = values.copy()
    out[flat] = np.atleast_1d(spsolve(system, rhs))
    return out.reshape(rows, t)


def _noise(shape: tuple[int, ...], keys: np.ndarray, seed: int) -> np.ndarray:
    """Standard normal draws of shape ``(n, *rest)``; row ``i`` from ``[seed, *keys[i]]``."""
    draws = np.empty(shape)
    for i, key in enumerate(keys):
        generator = np.random.default_rng([seed, *(int(k) for k in np.atleast_1d(key))])
        draws[i] = generator.standard_normal(shape[1:])
    return draws


def impute(
    x: np.ndarray,
    missing: np.ndarray,
    imputation: str = "linear",
    *,
    fill: np.ndarray | float = 0.0,
    noise: float = 0.01,
    sigma: float = 1.0,
    seed: int = 0,
    keys: np.ndarray | None = None,
    blurred: np.ndarray | None = None,
) -> np.ndarray:
    """Replace the ``missing`` points of ``x`` by an imputation; kept points are unchanged.

    Parameters
    ----------
    x : numpy.ndarray of shape (n, c, t)
        The series (never modified).
    missing : numpy.ndarray of bool, broadcastable to ``x``
        True where a point is removed.
    imputation : {"baseline", "linear", "noisy_linear", "blur"}, default="linear"
        See the module docstring.
    fill : float or numpy.ndarray broadcastable to ``x``, default=0.0
        The values of ``"baseline"``, and of a channel with no kept point under ``"linear"`` and
        ``"noisy_linear"``.
    noise : float, default=0.01
        Standard deviation of the noise of ``"noisy_linear"`` (ROAD's default), absolute.
    sigma : float, default=1.0
        Standard deviation, in time points, of the Gaussian of ``"blur"``.
    seed : int, default=0
        Seed of the noise.
    keys : numpy.ndarray of int of shape (n,) or (n, k), optional
        Key of each case's noise (default its index): a metric passes (case, step).
    blurred : numpy.ndarray, optional
        ``x`` already blurred (a metric blurs once and imputes many masks).

    Returns
    -------
    numpy.ndarray of float64 and shape (n, c, t)
    """
    imputation, noise = check_imputation(imputation, noise)
    series = np.asarray(x, dtype=np.float64)
    mask = np.broadcast_to(np.asarray(missing, dtype=bool), series.shape)
    filler = np.broadcast_to(np.asarray(fill, dtype=np.float64), series.shape)
    if imputation == "baseline":
        return np.where(mask, filler, series)
    if imputation == "blur":
        if blurred is None:
            blurred = baselines.blur(torch.from_numpy(series), float(sigma)).numpy()
        return np.where(mask, blurred, series)
    n, c, t = series.shape
    rows, row_mask = series.reshape(-1, t), mask.reshape(-1, t)
    solved = linear(rows, row_mask) if imputation == "linear" else neighbour_system(rows, row_mask)
    out = solved.reshape(n, c, t)
    if imputation == "noisy_linear" and noise > 0:
        keys = np.arange(n) if keys is None else np.asarray(keys)
        out = out + noise * np.where(mask, _noise(series.shape, keys, seed), 0.0)
    empty = np.broadcast_to(mask.all(axis=-1, keepdims=True), series.shape)
    return np.where(empty, filler, out)
