"""Read untrusted zip archives without executing anything in them or exhausting memory.

Two guarantees for model files that come from someone else:

- **Bounded reads.** :func:`read_member` reads a member only when its declared size is within a
  limit, and stops inflating once the limit is passed whatever the declaration says, so a small
  archive that inflates to gigabytes (a decompression bomb) is refused after at most ``limit``
  bytes.
- **No unpickling.** :func:`check_export_archive` inspects a ``torch.export`` archive (``.pt2``)
  before torch reads it. ``torch.export.load`` unpickles weights and constants marked
  ``use_pickle``, custom and opaque objects, and falls back to ``torch.load(weights_only=False)``
  for sample inputs and legacy weight files that the restricted loader refuses; any of these
  can run code. The check refuses archives with pickled weights or constants, custom or opaque
  objects, and every ``.pt`` member that torch's restricted (``weights_only=True``) loader cannot
  read, so the fallback can never be reached.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

#: Largest JSON member read (configs, graphs), bytes.
JSON_LIMIT = 64 * 2**20
#: Largest tensor payload member checked with the restricted loader, bytes.
PAYLOAD_LIMIT = 2 * 2**30


#: How to save a model chronolens loads from any number of cases.
EXPORT_HINT = (
    "torch.export.save(torch.export.export(model, (example,), dynamic_shapes=({0: "
    "torch.export.Dim('batch')},)), 'model.pt2')"
)


class UnsafeArchiveError(ValueError):
    """The archive asks for something chronolens never does: unpickling, or unbounded memory."""


def read_member(archive: zipfile.ZipFile, name: str, limit: int, what: str) -> bytes:
    """Read one member, refusing more than ``limit`` bytes declared or inflated."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise UnsafeArchiveError(
            f"{what} ({name}) declares {info.file_size:,} bytes, more than the {limit:,} bytes "
            "chronolens reads from such a member; the file is refused."
        )
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeArchiveError(
            f"{what} ({name}) inflates to more than {limit:,} bytes (it declared "
            f"{info.file_size:,}): a decompression bomb; the file is refused."
        )
    return data


def _json(archive: zipfile.ZipFile, name: str) -> Any:
    try:
        return json.loads(read_member(archive, name, JSON_LIMIT, "A configuration"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise UnsafeArchiveError(f"{name} is not valid JSON ({type(error).__name__}).") from None


def _restricted_load(data: bytes) -> None:
    import torch

    try:
        torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as error:
        raise UnsafeArchiveError(
            f"it holds pickled objects beyond plain tensors and containers ({type(error).__name__})"
        ) from None


def _payload_problems(config: Any, kind: str) -> list[str]:
    entries = config.get("config", {}) if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        return [f"its {kind} configuration is malformed"]
    problems = []
    for key, meta in entries.items():
        if not isinstance(meta, dict):
            problems.append(f"{kind} {key!r} has a malformed entry")
            continue
        path_name = str(meta.get("path_name", ""))
        if meta.get("use_pickle"):
            problems.append(f"{kind} {key!r} is stored as a pickle")
        if path_name.startswith(("custom_obj_", "opaque_obj_")):
            problems.append(f"{kind} {key!r} is a custom or opaque Python object")
    return problems


def check_export_archive(path: str | Path) -> None:
    """Refuse a ``.pt2`` archive that would make ``torch.export.load`` unpickle anything.

    Raises
    ------
    UnsafeArchiveError
        Naming what the archive contains and how to save a safe one.
    zipfile.BadZipFile
        If it is not a zip archive.
    """
    problems: list[str] = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            base = name.rsplit("/", 1)[-1]
            if name.endswith("_weights_config.json"):
                problems += _payload_problems(_json(archive, name), "weight")
            elif name.endswith("_constants_config.json"):
                problems += _payload_problems(_json(archive, name), "constant")
            elif base.startswith(("custom_obj_", "opaque_obj_")):
                problems.append(f"{name} is a pickled Python object")
            elif name.endswith((".pt", ".pkl", ".pickle")) or "/data/sample_inputs/" in name:
                data = read_member(archive, name, PAYLOAD_LIMIT, "A tensor file")
                try:
                    _restricted_load(data)
                except UnsafeArchiveError as error:
                    problems.append(f"{name}: {error}")
    if problems:
        listed = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
        raise UnsafeArchiveError(
            f"{str(path)!r} is a torch.export archive that torch would unpickle ({listed}), and "
            "unpickling can run any code, so chronolens refuses it. Export the model with plain "
            f"tensor weights: {EXPORT_HINT}, with a standard nn.Module (no custom objects or "
            "tensor subclasses)."
        )
