"""Min-max scaling, the one implementation the methods and metrics share."""

from __future__ import annotations

from typing import overload

import numpy as np
import torch

Dims = int | tuple[int, ...]


@overload
def min_max(values: torch.Tensor, dims: Dims = -1) -> torch.Tensor: ...
@overload
def min_max(values: np.ndarray, dims: Dims = -1) -> np.ndarray: ...
def min_max(values: torch.Tensor | np.ndarray, dims: Dims = -1) -> torch.Tensor | np.ndarray:
    """Scale ``values`` to [0, 1] over ``dims``; a constant slice becomes zeros (as scikit-learn).

    Works on torch tensors and NumPy arrays alike; NaN propagates.
    """
    if isinstance(values, torch.Tensor):
        low = values.amin(dim=dims, keepdim=True)
        span = values.amax(dim=dims, keepdim=True) - low
        return (values - low) / torch.where(span > 0, span, torch.ones_like(span))
    low_array = values.min(axis=dims, keepdims=True)
    span_array = values.max(axis=dims, keepdims=True) - low_array
    return (values - low_array) / np.where(span_array > 0, span_array, 1.0)
