"""The HTML report: orchestration and the self-contained page.

Which methods, metrics, sanity checks and prototypes to run, and the page that shows them.
Drawing lives in :mod:`chronolens.plot`.
"""

from chronolens.reporting.build import DEFAULT_METHODS, report

__all__ = ["DEFAULT_METHODS", "report"]
