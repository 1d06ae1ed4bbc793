"""The compact HTML view of an explanation that Jupyter shows (``_repr_html_``)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chronolens.explanation import Explanation

__all__ = ["explanation_html"]

_MAX_HTML_LIST = 8  # names listed in the HTML summary before "…"


def _names_text(names: Sequence[str]) -> str:
    shown = [str(name) for name in names[:_MAX_HTML_LIST]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f", … ({more} more)" if more > 0 else "")


def explanation_html(explanation: Explanation, case: int = 0) -> str:
    """Return a compact HTML view of an explanation for Jupyter's ``_repr_html_``.

    A summary table (method, layer, cases, shapes, names) and the figure of ``case`` as an
    embedded PNG. Every user-supplied string is escaped. If the figure cannot be drawn the
    table is returned with a note instead, so that displaying the object never fails.

    Parameters
    ----------
    explanation : Explanation
        The explanation to describe.
    case : int, default 0
        The case drawn in the figure.

    Returns
    -------
    str
        An HTML fragment.
    """
    table = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{html.escape(key)}</th>'
        f'<td style="text-align:left">{html.escape(value)}</td></tr>'
        for key, value in _summary_rows(explanation)
    )
    picture = _picture(explanation, case) if int(explanation.x.shape[0]) > 0 else ""
    return (
        '<div class="chronolens-explanation">'
        f"<strong>chronolens.Explanation</strong>"
        f'<table style="border-collapse:collapse;font-size:90%">{table}</table>'
        f"{picture}</div>"
    )


def _summary_rows(explanation: Explanation) -> list[tuple[str, str]]:
    """(name, value) rows of the summary table: method, layer, cases, shapes, names."""
    n, c, t = (int(size) for size in explanation.x.shape)
    rows: list[tuple[str, str]] = [("method", str(explanation.method))]
    if "layer" in explanation.extras:
        rows.append(("layer", str(explanation.extras["layer"])))
    rows += [
        ("n_cases", str(n)),
        ("x", f"{n} cases × {c} channels × {t} time points"),
        (
            "attributions",
            f"{tuple(explanation.attributions.shape)}, "
            + ("per channel" if explanation.per_channel else "shared by all channels"),
        ),
        ("per_channel", str(bool(explanation.per_channel))),
    ]
    if explanation.channel_names:
        rows.append(("channels", _names_text(explanation.channel_names)))
    if explanation.class_names:
        rows.append(("classes", _names_text(explanation.class_names)))
    return rows


def _picture(explanation: Explanation, case: int) -> str:
    """The figure of ``case`` as an embedded PNG, or a note saying why it cannot be drawn."""
    from chronolens.plot.static import plot_explanation

    try:
        fig = plot_explanation(explanation, case)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        alt = f"{explanation.method}, case {case}"
        return (
            f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}" '
            'style="max-width:100%"/>'
        )
    except Exception as error:  # a repr must not raise; say why there is no figure
        message = f"figure unavailable: {type(error).__name__}: {error}"
        return f"<p><em>{html.escape(message)}</em></p>"
