"""Map positions of a layer's output back to input time through their receptive fields.

A CAM value at position ``j`` of a layer summarises the input inside that position's receptive
field. chronolens places it at the centre of the receptive field and interpolates linearly between
neighbouring centres (holding the first and last values constant towards the edges), instead of
stretching the map over the series as a blind resize would. With "valid" padding, strides and
dilation, the two differ by up to half a receptive field.

The centres come from the layers' kernel, stride, padding and dilation when the adapter can read
them (a ``torch.nn.Sequential`` chain, a Keras model). Otherwise they are measured: a NaN placed at
input position ``i`` turns exactly the output positions whose receptive field holds ``i`` into NaN
(NaN survives convolution, pooling, normalisation, activations and additions), so probing every
input position gives each output position's receptive field, and its centre. Layers that mix all
time positions (attention, global pooling followed by broadcasting) have no local receptive field;
their maps are spread evenly over the series and a warning says so.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from typing import Any

import numpy as np
import torch

from chronolens._batching import chunks
from chronolens.models.base import Model

# owner (held weakly) -> {(structure, layer, n_channels, n_timepoints): (centres, how)}. The
# structure (every layer's class and hyper-parameters) is part of the key, so a model edited in
# place never gets the centres of its former self.
_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[Any, str, int, int], tuple[np.ndarray, str]]] = (
    weakref.WeakKeyDictionary()
)


def _uniform(n_positions: int, n_timepoints: int) -> np.ndarray:
    return (np.arange(n_positions) + 0.5) * (n_timepoints / n_positions) - 0.5


def receptive_fields(
    model: Model, layer: str, n_channels: int, n_timepoints: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """First and last input time point of every position's receptive field, by NaN probing.

    Returns ``(low, high)``, each of shape (n_positions,), inclusive and clipped to the series;
    None when they cannot be measured (the layer's output on zeros already holds NaN, or no
    input reaches some position).
    """
    known = getattr(model, "layer_fields", None)
    fields = known(layer, n_channels, n_timepoints) if known is not None else None
    if fields is not None:
        return fields  # from the layers' configs (Keras chains: NaN probing misses max pools)
    base = model.layer_output(torch.zeros(1, n_channels, n_timepoints), layer)
    n_positions = base.shape[-1]
    if torch.isnan(base).any():
        return None
    low = np.full(n_positions, np.inf)
    high = np.full(n_positions, -np.inf)
    for start, stop in chunks(n_timepoints, batch_size):
        positions = torch.arange(start, stop)
        rows = torch.zeros(stop - start, n_channels, n_timepoints)
        rows[torch.arange(stop - start), :, positions] = float("nan")
        affected = torch.isnan(model.layer_output(rows, layer)).flatten(1, -2).any(dim=1)
        affected_rows = affected.cpu().numpy()  # (rows, n_positions)
        where = positions.numpy()[:, None].astype(np.float64)
        low = np.minimum(low, np.where(affected_rows, where, np.inf).min(axis=0))
        high = np.maximum(high, np.where(affected_rows, where, -np.inf).max(axis=0))
    if not np.isfinite(low).all():
        return None
    return low, high


def field_centres(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Centre of each receptive field ``low .. high`` (inclusive, clipped to the series).

    Positions whose receptive field is clipped by an end of the series (or by padding inside
    the network) are narrower than the others. For translation-equivariant layers the centres
    of the full-width (interior) positions lie on a line; edge positions are then placed on it,
    where their full fields centre, not at the centre of their clipped part.
    """
    centres = (low + high) / 2
    width = high - low + 1
    interior = np.nonzero(width == width.max())[0]
    if len(interior) >= 2:
        jump = (centres[interior[-1]] - centres[interior[0]]) / (interior[-1] - interior[0])
        line = centres[interior[0]] + jump * (np.arange(len(centres)) - interior[0])
        if np.allclose(line[interior], centres[interior], atol=1e-6):
            return np.asarray(line, dtype=np.float64)
    return np.asarray(centres, dtype=np.float64)


def _probe(
    model: Model, layer: str, n_channels: int, n_timepoints: int, batch_size: int
) -> np.ndarray | None:
    """Receptive-field centres by probing; None when the layer has no local receptive field."""
    fields = receptive_fields(model, layer, n_channels, n_timepoints, batch_size)
    if fields is None:
        return None
    low, high = fields
    if len(low) > 2 and (high - low + 1).max() >= n_timepoints:
        return None  # the layer mixes every time position: no local receptive field
    return field_centres(low, high)


def layer_centers(
    model: Model, layer: str, n_channels: int, n_timepoints: int, batch_size: int = 256
) -> tuple[np.ndarray, str]:
    """Return the receptive-field centres of ``layer``'s positions and how they were found.

    Returns
    -------
    centres : numpy.ndarray of shape (n_positions,)
        Centre of each output position's receptive field, in input time points.
    how : {"layer hyper-parameters", "probed", "uniform"}
        Where the centres came from; "uniform" when the layer has no local receptive field.
    """
    identity = model.cache_identity()
    cached: dict[tuple[Any, str, int, int], tuple[np.ndarray, str]] = {}
    key: tuple[Any, str, int, int] = (None, layer, n_channels, n_timepoints)
    if identity is not None:
        owner, structure = identity
        key = (structure, layer, n_channels, n_timepoints)
        try:
            cached = _CACHE.setdefault(owner, {})
        except TypeError:  # not weak-referenceable
            pass
    if key in cached:
        return cached[key]
    centres = model.layer_centers(layer, n_channels, n_timepoints)
    how = "layer hyper-parameters"
    if centres is None:
        centres = _probe(model, layer, n_channels, n_timepoints, batch_size)
        how = "probed"
    if centres is None:
        n_positions = model.layer_output(torch.zeros(1, n_channels, n_timepoints), layer).shape[-1]
        centres = _uniform(n_positions, n_timepoints)
        how = "uniform"
        warnings.warn(
            f"Layer {layer!r} mixes all time positions (no local receptive field), so its map is "
            "spread evenly over the series. Choose an earlier convolutional layer for a map "
            "that localises in time.",
            stacklevel=3,
        )
    cached[key] = (np.asarray(centres, dtype=np.float64), how)
    return cached[key]


def interpolation_matrix(centres: np.ndarray, n_timepoints: int) -> torch.Tensor:
    """Matrix ``W`` of shape (n_positions, n_timepoints) with ``map_in_time = values @ W``.

    Each time point takes the linear interpolation of the two positions whose centres surround
    it; time points before the first centre or after the last take that position's value.
    """
    centres = np.ascontiguousarray(centres, dtype=np.float64)
    left, right, fraction = _neighbours(centres.tobytes(), n_timepoints)
    weights = torch.zeros(len(centres), n_timepoints)
    columns = torch.arange(n_timepoints)
    weights.index_put_((left, columns), 1 - fraction, accumulate=True)
    weights.index_put_((right, columns), fraction, accumulate=True)
    return weights


@functools.lru_cache(maxsize=64)
def _neighbours(
    centres_bytes: bytes, n_timepoints: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each time point: the positions left and right of it and the right one's weight."""
    centres = np.frombuffer(centres_bytes, dtype=np.float64)
    n_positions = len(centres)
    times = np.arange(n_timepoints, dtype=np.float64)
    if n_positions == 1:
        zeros = torch.zeros(n_timepoints, dtype=torch.long)
        return zeros, zeros, torch.zeros(n_timepoints)
    right = np.clip(np.searchsorted(centres, times, side="right"), 1, n_positions - 1)
    left = right - 1
    span = centres[right] - centres[left]
    fraction = np.clip((times - centres[left]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    return (
        torch.from_numpy(left).long(),
        torch.from_numpy(right).long(),
        torch.from_numpy(fraction).float(),
    )


def to_input_time(values: torch.Tensor, centres: np.ndarray, n_timepoints: int) -> torch.Tensor:
    """Map ``values`` of shape (..., n_positions) to input time, shape (..., n_timepoints).

    The same linear interpolation as :func:`interpolation_matrix` (``values @ W``), computed
    from each time point's two neighbouring positions instead of the dense matrix.
    """
    key = np.ascontiguousarray(centres, dtype=np.float64).tobytes()
    left, right, fraction = _neighbours(key, n_timepoints)
    device = values.device
    weight = fraction.to(device, values.dtype)
    return values[..., left.to(device)] * (1 - weight) + values[..., right.to(device)] * weight
