"""chronolens: see what a time-series classifier looks at.

A model and some series go in, an :class:`Explanation` comes out; plots, reports and metrics
read Explanations.

>>> import chronolens as cl
>>> sorted(cl.methods().names())[:3]
['cam', 'grad_cam', 'grad_cam_pp']

Subpackages are reachable as attributes without an explicit import (``cl.metrics``,
``cl.datasets``, ``cl.zoo``, ...) and load on first use, so ``import chronolens`` imports only
numpy and torch.
"""

from typing import TYPE_CHECKING, Any

from chronolens._explain import explain
from chronolens._version import __version__
from chronolens.explanation import Explanation
from chronolens.method_spec import MethodSpec
from chronolens.models import Model, adapt
from chronolens.registry import methods, register, unregister, usable_on
from chronolens.series import as_series

if TYPE_CHECKING:
    from chronolens import attribution, datasets, inspection, metrics, plot, reporting, testing, zoo
    from chronolens.counterfactual import counterfactual
    from chronolens.inspection import activations, maximize, top_windows
    from chronolens.reporting import report
    from chronolens.sensitivity import baseline_sensitivity
    from chronolens.streaming import explain_dataset


__all__ = [
    "Explanation",
    "MethodSpec",
    "Model",
    "__version__",
    "activations",
    "adapt",
    "as_series",
    "attribution",
    "baseline_sensitivity",
    "counterfactual",
    "datasets",
    "explain",
    "explain_dataset",
    "inspection",
    "maximize",
    "methods",
    "metrics",
    "plot",
    "register",
    "report",
    "reporting",
    "streaming",
    "testing",
    "top_windows",
    "unregister",
    "usable_on",
    "zoo",
]

# Functions loaded on first use, and the subpackages.
_LAZY = {
    "report": "chronolens.reporting",
    "explain_dataset": "chronolens.streaming",
    "activations": "chronolens.inspection",
    "maximize": "chronolens.inspection",
    "top_windows": "chronolens.inspection",
    "counterfactual": "chronolens.counterfactual",
    "baseline_sensitivity": "chronolens.sensitivity",
}
_SUBPACKAGES = (
    "attribution",
    "datasets",
    "inspection",
    "metrics",
    "plot",
    "reporting",
    "streaming",
    "testing",
    "zoo",
)


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"chronolens.{name}")
    else:
        raise AttributeError(f"module 'chronolens' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
