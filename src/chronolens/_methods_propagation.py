"""The built-in propagation methods' entries (part of ``BUILTIN``)."""

from __future__ import annotations

from chronolens.method_spec import MethodSpec

SPECS: tuple[MethodSpec, ...] = ()
