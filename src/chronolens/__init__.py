"""chronolens: see what a time-series classifier looks at.

A model and some series go in, an :class:`Explanation` comes out; plots, reports and metrics
read Explanations.

>>> import chronolens as cl
>>> sorted(cl.methods().names())[:3]
['cam', 'grad_cam', 'grad_cam_pp']
"""

from chronolens._explain import explain
from chronolens.explanation import Explanation
from chronolens.models import Model, adapt
from chronolens.registry import methods
from chronolens.series import as_series

__version__ = "0.1.0"

__all__ = ["Explanation", "Model", "__version__", "adapt", "as_series", "explain", "methods"]
