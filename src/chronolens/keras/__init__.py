"""Keras 3 layers that make a model explain itself; importing :mod:`chronolens` never imports keras.

- :class:`AttentionWeights`, :class:`AttentionPooling`: additive attention over time, its weights
  readable by ``explain(method="attention")`` (:mod:`chronolens.keras.attention`).
- :class:`MILPooling`: MILLET's multiple-instance head (in place of ``Flatten -> Dense``), read by
  ``explain(method="mil")`` (:mod:`chronolens.keras.mil`).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "AttentionWeights": "chronolens.keras.attention",
    "AttentionPooling": "chronolens.keras.attention",
    "MILPooling": "chronolens.keras.mil",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'chronolens.keras' has no attribute {name!r}")
