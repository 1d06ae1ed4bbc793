"""Fill the report template: the data as escaped JSON, the title as escaped text.

User strings never reach the page as markup. The template's script reads the data with
``JSON.parse`` and writes every name with ``textContent``; the JSON is escaped so that no
``<``, ``>`` or ``&`` appears inside the ``<script>`` element that holds it.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import Any

_TEMPLATE = "template.html"
_SLOTS = ("/*@TITLE@*/", "/*@DATA@*/")


def template() -> str:
    """The HTML template shipped in the package."""
    return resources.files("chronolens.reporting").joinpath(_TEMPLATE).read_text(encoding="utf-8")


def script_json(payload: Any) -> str:
    """``payload`` as JSON that is safe inside a ``<script>`` element and deterministic."""
    text = json.dumps(payload, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    for character, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(character, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render(title: str, payload: Any) -> str:
    """The complete HTML document for ``payload``."""
    page = template()
    for slot in _SLOTS:
        if page.count(slot) != 1:  # pragma: no cover - guards edits of the template
            raise RuntimeError(f"The report template must contain {slot} exactly once.")
    values = {_SLOTS[0]: html.escape(title, quote=True), _SLOTS[1]: script_json(payload)}
    # one pass, so that a title containing a slot's text is not filled in turn
    return re.sub("|".join(re.escape(slot) for slot in _SLOTS), lambda m: values[m[0]], page)
