"""NARMA backgrounds: the non-linear autoregressive series TimeX's synthetic sets start from."""

from __future__ import annotations

import numpy as np

#: The NARMA coefficients of the literature (and of the TimeSynth package TimeX samples from).
NARMA_COEFFICIENTS = (0.3, 0.05, 1.5, 0.1)


def narma(rng: np.random.Generator, shape: tuple[int, ...], n_timepoints: int, order: int = 2):
    """Draw NARMA series of the given order along a last axis of ``n_timepoints`` points.

    ``y[k+1] = 0.3 y[k] + 0.05 y[k] sum(y[k-order+1..k]) + 1.5 u[k-order+1] u[k] + 0.1``, with
    ``u`` uniform on [0, 0.5) and ``y`` zero for the first ``order`` points.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : tuple of int
        Leading shape (for example ``(n_cases, n_channels)``).
    n_timepoints : int
    order : int, default=2
        TimeX's sets use order 2.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``shape + (n_timepoints,)``.
    """
    a0, a1, a2, a3 = NARMA_COEFFICIENTS
    u = rng.uniform(0.0, 0.5, size=(*shape, n_timepoints))
    y = np.zeros((*shape, n_timepoints))
    for k in range(order - 1, n_timepoints - 1):
        window = y[..., k - order + 1 : k + 1].sum(axis=-1)
        y[..., k + 1] = (
            a0 * y[..., k] + a1 * y[..., k] * window + a2 * u[..., k - order + 1] * u[..., k] + a3
        )
    return y
