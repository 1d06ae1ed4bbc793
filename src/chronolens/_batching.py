"""The one chunking helper: rows per model call, given directly or from a memory budget.

On a CPU, bigger batches are not faster: 256 to 1,024 rows per pass beat 12,800 by 2.5x, and
glibc hands every activation tensor over ~32 MB back to the system after each pass (page faults
double a forward's cost). ``batch_size="auto"`` therefore sizes a chunk so that its largest
activation stays under 16 MB and all its activations under 256 MB, between 1 and 1,024 rows.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Iterator
from typing import Any

from chronolens.models.base import Model

LARGEST_TENSOR_BYTES = 16 * 2**20
TOTAL_BYTES = 256 * 2**20
MAX_ROWS = 1024
BLACK_BOX_ROWS = 256


#: Activation bytes per row, per model (held weakly) and structure: measuring them runs the model.
_ROW_BYTES: weakref.WeakKeyDictionary[Any, dict[Hashable, tuple[int, int] | None]] = (
    weakref.WeakKeyDictionary()
)


def row_bytes(model: Model, n_channels: int, n_timepoints: int) -> tuple[int, int] | None:
    """``model.row_bytes``, remembered per user model and structure across calls.

    The measurement runs one forward pass; the cache is keyed on the model object (weakly) and
    on :meth:`Model.cache_identity`'s structure, so an edited architecture is measured again.
    """
    identity = model.cache_identity()
    if identity is None:
        return model.row_bytes(n_channels, n_timepoints)
    owner, structure = identity
    try:
        cached = _ROW_BYTES.setdefault(owner, {})
    except TypeError:  # not weak-referenceable
        return model.row_bytes(n_channels, n_timepoints)
    key = (structure, n_channels, n_timepoints)
    if key not in cached:
        cached[key] = model.row_bytes(n_channels, n_timepoints)
    return cached[key]


def chunks(n_rows: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` bounds that cover ``range(n_rows)`` in chunks of ``batch_size``."""
    for start in range(0, n_rows, batch_size):
        yield start, min(start + batch_size, n_rows)


def resolve_batch_size(
    batch_size: int | str, model: Model, n_channels: int, n_timepoints: int
) -> int:
    """Return the rows per model call: ``batch_size`` itself, or the memory-budget choice."""
    limit = model.max_rows if model.max_rows is not None else MAX_ROWS
    if batch_size != "auto":
        return min(int(batch_size), limit)
    sizes = row_bytes(model, n_channels, n_timepoints)
    if sizes is None:
        return min(BLACK_BOX_ROWS, limit)
    total, largest = sizes
    rows = min(LARGEST_TENSOR_BYTES // max(largest, 1), TOTAL_BYTES // max(total, 1), limit)
    return max(1, int(rows))
