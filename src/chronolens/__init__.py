"""chronolens: see what a time-series classifier looks at.

A model and some series go in, an :class:`Explanation` comes out; plots, reports and metrics
read Explanations.

>>> import chronolens as cl
>>> sorted(cl.methods().names())[:3]
['cam', 'grad_cam', 'grad_cam_pp']
"""

from typing import TYPE_CHECKING, Any

from chronolens._explain import explain
from chronolens.explanation import Explanation
from chronolens.models import Model, adapt
from chronolens.registry import methods
from chronolens.series import as_series

if TYPE_CHECKING:
    from chronolens.methods.activations import activations, top_windows
    from chronolens.methods.maximization import maximize
    from chronolens.plot.report import report

__version__ = "0.1.0"

__all__ = [
    "Explanation",
    "Model",
    "__version__",
    "activations",
    "adapt",
    "as_series",
    "explain",
    "maximize",
    "methods",
    "report",
    "top_windows",
]

# Names loaded on first use, so that ``import chronolens`` imports only numpy and torch.
_LAZY = {"report": "chronolens.plot.report"}
_LAZY.update(
    activations="chronolens.methods.activations",
    maximize="chronolens.methods.maximization",
    top_windows="chronolens.methods.activations",
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chronolens' has no attribute {name!r}")
