"""Model inspection: what the network computes and what it wants.

Activations aligned to input time, the windows that excite a filter most, and activation
maximization (class or filter prototypes).

These read a model; they are not attribution methods (they explain no decision) and so are not
registered. Each works on any differentiable adapter (PyTorch, Keras 3 on every backend).
"""

from chronolens.inspection.activations import Activations, activations
from chronolens.inspection.maximization import Prototypes, maximize
from chronolens.inspection.windows import TopWindows, top_windows

__all__ = ["Activations", "Prototypes", "TopWindows", "activations", "maximize", "top_windows"]
