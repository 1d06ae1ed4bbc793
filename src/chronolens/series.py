"""Turn user data into the chronolens series layout ``(n_cases, n_channels, n_timepoints)``."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

Layout = Literal["ncl", "nlc"]
LAYOUTS = ("ncl", "nlc")


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # tensorflow / jax arrays
        x = x.numpy()
    if (
        isinstance(x, (list, tuple))
        and len({np.shape(item) for item in x if hasattr(item, "shape")}) > 1
    ):
        raise ValueError(
            f"`{name}` holds series of different shapes (unequal lengths, e.g. aeon's "
            "JapaneseVowels). chronolens.explain() takes such a list directly (see its "
            "`pad_value`), and the metrics read the Explanation it returns; elsewhere pad the "
            "series to one length first (at the end, e.g. with np.pad)."
        )
    try:
        array = np.asarray(x)
    except Exception as error:  # pragma: no cover - exotic inputs
        raise TypeError(
            f"`{name}` must be array-like of numbers; got {type(x).__name__} ({error})."
        ) from error
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(
            f"`{name}` must hold numbers; got an array of dtype {array.dtype}. "
            "Convert it with np.asarray(..., dtype=np.float32)."
        )
    if np.iscomplexobj(array):
        raise TypeError(f"`{name}` must be real-valued; got complex dtype {array.dtype}.")
    return array


def as_series(x: Any, layout: Layout = "ncl", *, name: str = "x") -> np.ndarray:
    """Return ``x`` as a float32 array of shape ``(n_cases, n_channels, n_timepoints)``.

    Parameters
    ----------
    x : array-like
        Of shape (n_cases, n_channels, n_timepoints) or (n_channels, n_timepoints) with
        ``layout="ncl"``; of shape (n_cases, n_timepoints, n_channels) or
        (n_timepoints, n_channels) with ``layout="nlc"``. NumPy arrays, torch tensors and nested
        lists are accepted.
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of ``x``: channels before time (chronolens and aeon) or channels last (Keras).
    name : str, default="x"
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        A new float32 array of shape (n_cases, n_channels, n_timepoints); ``x`` is never modified.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D or 3-D, is empty, or holds NaN or infinite values.
    TypeError
        If ``x`` does not hold real numbers.

    Examples
    --------
    >>> import numpy as np
    >>> as_series(np.zeros((9, 300))).shape
    (1, 9, 300)
    >>> as_series(np.zeros((4, 300, 9)), layout="nlc").shape
    (4, 9, 300)
    """
    if layout not in LAYOUTS:
        raise ValueError(
            "`layout` must be 'ncl' (channels before time) or 'nlc' (channels last); "
            f"got {layout!r}."
        )
    array = _to_numpy(x, name)
    if array.ndim == 2:
        array = array[None]
    elif array.ndim != 3:
        expected = (
            "(n_cases, n_channels, n_timepoints) or (n_channels, n_timepoints)"
            if layout == "ncl"
            else "(n_cases, n_timepoints, n_channels) or (n_timepoints, n_channels)"
        )
        fix = (
            " For a single univariate series use x[None, :] (one channel)."
            if array.ndim == 1
            else " Drop or merge the extra axes first."
        )
        raise ValueError(
            f"`{name}` must be 2-D or 3-D, {expected} for layout={layout!r}; "
            f"got {array.ndim}-D with shape {array.shape}.{fix}"
        )
    if layout == "nlc":
        array = array.transpose(0, 2, 1)
    if 0 in array.shape:
        raise ValueError(
            f"`{name}` is empty: shape (n_cases, n_channels, n_timepoints) = {array.shape}."
        )
    if array.dtype.kind == "f" and array.dtype.itemsize > 4:
        finite = np.isfinite(array)
        too_big = finite & (np.abs(array) > np.finfo(np.float32).max)
        if too_big.any():
            case, channel, time = (int(i[0]) for i in np.nonzero(too_big))
            raise ValueError(
                f"`{name}` holds {int(too_big.sum())} values beyond float32's range (+-3.4e38; "
                f"first at case {case}, channel {channel}, time {time}), which chronolens "
                "computes in. Rescale the data (e.g. divide by its maximum) before explaining."
            )
    with np.errstate(over="ignore"):
        result = np.array(array, dtype=np.float32, copy=True, order="C")
    if not np.isfinite(result).all():
        bad = ~np.isfinite(result)
        case, channel, time = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(
            f"`{name}` holds {int(bad.sum())} NaN or infinite values (first at case {case}, "
            f"channel {channel}, time {time}). Impute or drop them before explaining, e.g. with "
            "np.nan_to_num or interpolation."
        )
    return result
