"""The report's "Counterfactuals" section: what each case would have to look like to flip.

``cl.report(..., counterfactual=...)`` takes a :class:`~chronolens.counterfactual.Counterfactual`
already computed on the report's ``x``, a dict of :func:`chronolens.counterfactual` options
(``method``, ``reference``, ``target_class``, ...), or True (Native Guide with the report's own
cases as the reference: ``(x, y)`` when ``y`` is given, else ``x`` with the model's
predictions). The section holds a table of every case (classes, probability, validity,
proximity, sparsity) and the figure of the first :data:`FIGURES` cases as PNG images.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chronolens.reporting import _stats as stats
from chronolens.series import Layout, as_series

__all__ = ["FIGURES", "counterfactual_section"]

#: Cases drawn as figures (every case is in the table).
FIGURES = 3


def _compute(
    model: Any, series: np.ndarray, spec: Any, labels: np.ndarray | None, layout: Layout
) -> Any:
    """The Counterfactual of ``spec`` on ``series`` (n, c, t)."""
    from chronolens.counterfactual import Counterfactual, counterfactual

    if isinstance(spec, Counterfactual):
        if spec.original.shape != series.shape or not np.allclose(spec.original, series):
            raise ValueError(
                f"`counterfactual` was computed on other series than `x` (its original has "
                f"shape {spec.original.shape}, x has shape {series.shape}); pass the x it was "
                "computed on, or a dict of counterfactual() options to compute it here."
            )
        return spec
    if spec is True:
        spec = {}
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"`counterfactual` must be a Counterfactual, a dict of chronolens.counterfactual "
            f"options or True; got {type(spec).__name__}. Pass e.g. "
            "counterfactual={'method': 'native_guide', 'reference': (X_train, y_train)}."
        )
    options = dict(spec)
    if "layout" in options:
        raise TypeError("`counterfactual` options take the report's `layout`; drop 'layout'.")
    reference = options.pop("reference", None)
    if reference is None:
        reference = (series, labels) if labels is not None else series
    elif isinstance(reference, tuple) and len(reference) == 2:
        reference = (as_series(reference[0], layout, name="reference"), reference[1])
    else:
        reference = as_series(reference, layout, name="reference")
    return counterfactual(model, series, reference=reference, layout="ncl", **options)


def _png(result: Any, case: int, class_names: Sequence[str], channel_names: Sequence[str]) -> str:
    fig = result.plot(case, class_names=class_names, channel_names=channel_names, max_channels=6)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def counterfactual_section(
    model: Any,
    x: Any,
    spec: Any,
    payload: Mapping[str, Any],
    labels: np.ndarray | None,
    layout: Layout,
    ragged: Mapping[str, Any],
) -> dict[str, Any]:
    """``{"counterfactual": the section's data}``, None when ``spec`` is None or False.

    ``x`` is the report's data in ``layout``; ``payload`` gives the class and channel names;
    ``ragged`` is non-empty for unequal-length data, which the section refuses.
    """
    if spec is None or spec is False:
        return {"counterfactual": None}
    if ragged:
        raise ValueError("`counterfactual` needs series of one length; drop it for this `x`.")
    class_names, channel_names = payload["classes"], payload["channels"]
    result = _compute(model, as_series(x, layout), spec, labels, layout)
    rows = []
    for row in result.to_dict()["cases"]:
        rows.append(
            {
                "case": row["case"],
                "from": class_names[row["original_class"]],
                "to": class_names[row["new_class"]],
                "target": "any other"
                if row["target_class"] < 0
                else class_names[row["target_class"]],
                "probability": stats.rounded(row["new_probability"]),
                "valid": row["validity"],
                "l1": stats.rounded(row["l1"]),
                "l2": stats.rounded(row["l2"]),
                "dtw": stats.rounded(row["dtw"]),
                "sparsity": stats.rounded(row["sparsity"]),
                "note": row["note"],
            }
        )
    shown = range(min(FIGURES, result.n_cases))
    params = ", ".join(f"{k}={v!r}" for k, v in result.params.items() if k != "model_calls")
    return {
        "counterfactual": {
            "method": result.method,
            "params": params,
            "valid": int(result.validity.sum()),
            "cases": result.n_cases,
            "table": rows,
            "figures": [
                {"case": i, "png": _png(result, i, class_names, channel_names)} for i in shown
            ],
        }
    }
