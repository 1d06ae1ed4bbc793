"""Metrics over Explanations: localisation against ground truth (more to come)."""

from chronolens.metrics.localization import average_precision_score

__all__ = ["average_precision_score"]
