"""Static plots of explanations: every channel over a heat band of its attribution.

>>> fig = explanation.plot(0)  # doctest: +SKIP
>>> fig.savefig("case0.png")  # doctest: +SKIP

The functions build :class:`matplotlib.figure.Figure` objects with the object-oriented API
only (no ``pyplot`` state), so they work headless, in threads and in notebooks, where a
returned Figure is displayed by its own repr.
"""

from chronolens.plot.counterfactual import plot_counterfactual
from chronolens.plot.static import plot_comparison, plot_explanation

#: ``cl.plot.counterfactual(result, case=0)``: the name binds the function, not its module.
counterfactual = plot_counterfactual

__all__ = ["counterfactual", "plot_comparison", "plot_counterfactual", "plot_explanation"]
