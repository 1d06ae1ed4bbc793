"""Checks of :func:`chronolens.counterfactual`'s input, each error naming the parameter and fix."""

from __future__ import annotations

from typing import Any

import numpy as np

from chronolens.series import Layout, as_series

__all__ = ["check_reference", "check_targets", "reference_labels"]


def check_reference(reference: Any, layout: Layout, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """``(ref_x (m, c, t) float32, y_ref (m,) int64 or None)`` from ``reference``."""
    if reference is None:
        raise ValueError(
            "counterfactual() needs reference data to draw the counterfactual from: pass "
            "reference=(X_ref, y_ref) (e.g. the training set and its labels) or reference=X_ref "
            "(the model's predictions are then its labels)."
        )
    labels = None
    if isinstance(reference, tuple):
        if len(reference) != 2:
            raise ValueError(
                f"`reference` as a tuple must be (X_ref, y_ref); got a tuple of {len(reference)}."
            )
        reference, labels = reference
    ref_x = as_series(reference, layout, name="reference")
    if ref_x.shape[1:] != tuple(shape[1:]):
        raise ValueError(
            f"`reference` holds series of {ref_x.shape[1]} channels x {ref_x.shape[2]} time "
            f"points, `x` of {shape[1]} x {shape[2]} (layout={layout!r}); pass reference data "
            "with the shape of `x` (resample or pad it to the same length)."
        )
    if labels is not None:
        labels_array = np.asarray(labels)
        if labels_array.shape != (len(ref_x),) or not np.issubdtype(labels_array.dtype, np.integer):
            raise ValueError(
                f"`reference`'s y_ref must hold one integer class per reference case, shape "
                f"({len(ref_x)},); got shape {labels_array.shape}, dtype {labels_array.dtype}."
            )
        labels = labels_array.astype(np.int64)
    return ref_x, labels


def reference_labels(
    labels: np.ndarray | None, predicted: np.ndarray, n_classes: int
) -> np.ndarray:
    """The reference's labels: ``y_ref`` (checked against the classes) or the predictions."""
    if labels is None:
        return predicted
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"`reference`'s y_ref holds classes {labels.min()}..{labels.max()}, but the model has "
            f"{n_classes} classes; encode labels as 0..{n_classes - 1}."
        )
    return labels


def check_targets(target_class: Any, n: int, n_classes: int) -> np.ndarray:
    """One target per case (-1: any class other than the predicted one)."""
    if target_class is None:
        return np.full(n, -1, dtype=np.int64)
    values = np.asarray(target_class)
    if values.ndim == 0:
        values = np.full(n, values.item())
    if values.shape != (n,) or not (
        np.issubdtype(values.dtype, np.integer) or values.dtype == object
    ):
        raise ValueError(
            f"`target_class` must be None, one class index, or one per case (shape ({n},)); "
            f"got {target_class!r}."
        )
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"`target_class` must hold integer class indices; got {target_class!r}.")
    values = values.astype(np.int64)
    bad = values[(values < 0) | (values >= n_classes)]
    if bad.size:
        raise ValueError(
            f"`target_class` {int(bad[0])} does not exist: the model has {n_classes} classes "
            f"(0..{n_classes - 1}); pass one of them, or None for any other class."
        )
    return values
