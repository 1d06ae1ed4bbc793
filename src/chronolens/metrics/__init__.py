"""Metrics over Explanations: whether a map can be trusted.

- Faithfulness (needs the model): :func:`deletion`, :func:`insertion`, :func:`aopc_score`, with
  removed points imputed from the data (``imputation=``, :func:`impute`) and a random reference
  of the map's shape; ROAD (Rong et al. 2022): :func:`road` (MoRF lower, LeRF higher is better).
- Localization against a ground-truth mask: :func:`average_precision_score`,
  :func:`roc_auc_score`, :func:`relevance_mass_score`, :func:`aup_aur`.
- MILLET's (Early et al. 2024): :func:`aopcr` (needs the model), :func:`ndcg_at_n` (a mask).
- Sanity: :func:`model_randomization`.
- Cumulative (TIMING, Jang et al. 2025; needs the model): :func:`cpd` (higher is better),
  :func:`cpp` (lower is better).
- Robustness (Yeh et al. 2019, as Captum): :func:`infidelity`, :func:`max_sensitivity` (both
  lower is better).
- Stability of the map over seeds, baselines or input noise: :func:`stability` (higher is
  better).
- All of them for several methods at once: :func:`evaluate` (``chronolens evaluate``).

Every metric returns per-case values; ``np.nanmean`` (or the result's ``mean_*`` properties)
gives the documented mean.
"""

from chronolens.metrics.cumulative import cpd, cpp
from chronolens.metrics.evaluation import Evaluation, MethodEvaluation, evaluate
from chronolens.metrics.faithfulness import PerturbationCurve, aopc_score, deletion, insertion
from chronolens.metrics.imputation import impute
from chronolens.metrics.localization import (
    AupAur,
    aup_aur,
    average_precision_score,
    relevance_mass_score,
    roc_auc_score,
)
from chronolens.metrics.millet import aopcr, ndcg_at_n
from chronolens.metrics.road import RoadResult, road
from chronolens.metrics.robustness import infidelity, max_sensitivity
from chronolens.metrics.sanity import (
    RandomizationResult,
    UncopyableModelError,
    model_randomization,
)
from chronolens.metrics.stability import stability

__all__ = [
    "AupAur",
    "Evaluation",
    "MethodEvaluation",
    "PerturbationCurve",
    "RandomizationResult",
    "RoadResult",
    "UncopyableModelError",
    "aopc_score",
    "aopcr",
    "aup_aur",
    "average_precision_score",
    "cpd",
    "cpp",
    "deletion",
    "evaluate",
    "impute",
    "infidelity",
    "insertion",
    "max_sensitivity",
    "model_randomization",
    "ndcg_at_n",
    "relevance_mass_score",
    "road",
    "roc_auc_score",
    "stability",
]
