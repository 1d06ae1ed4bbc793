"""Load Keras models (``.keras`` archives, legacy ``.h5`` files) without executing user code.

Before Keras sees the file, its model configuration is read as JSON and refused when it names
anything that would run Python code on loading: ``Lambda`` layers (their function is stored as
bytecode), and classes from modules outside Keras (custom layers, whose code would be imported).
Keras then loads it with ``safe_mode=True`` and ``compile=False`` (no optimizer, loss or metric
objects are rebuilt).

Unless ``KERAS_BACKEND`` is set or Keras is already imported, models are loaded on the torch
backend, which chronolens always has; a model saved on TensorFlow or JAX loads there unchanged.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from chronolens._archive_safety import JSON_LIMIT, read_member

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_CODE_LAYERS = ("Lambda", "__lambda__", "TFOpLambda", "SlicingOpLambda")


def _config_text(path: Path) -> str:
    """The model configuration (JSON text) stored in a .keras archive or a legacy .h5 file."""
    if path.suffix.lower() == ".keras":
        if not zipfile.is_zipfile(path):
            raise ValueError(
                f"{str(path)!r} is not a Keras archive (a .keras file is a zip archive written "
                "by model.save('model.keras'))."
            )
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise ValueError(f"{str(path)!r} is a zip file without a Keras model config.")
            data = read_member(archive, "config.json", JSON_LIMIT, "The Keras model config")
            return data.decode("utf-8")
    try:
        import h5py
    except ImportError:
        raise ValueError(
            f"Reading {str(path)!r} needs h5py: pip install 'chronolens[keras]'."
        ) from None
    try:
        with h5py.File(path, "r") as handle:
            config = handle.attrs.get("model_config")
    except OSError as error:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file ({error}).") from None
    if config is None:
        raise ValueError(
            f"{str(path)!r} holds no model configuration (only weights, from save_weights?). "
            "Save the whole model with model.save('model.keras')."
        )
    return config.decode("utf-8") if isinstance(config, bytes) else str(config)


#: chronolens's own Keras layers: ``(module, class)``. They load from their code in the installed
#: chronolens (their config holds no code), so a file using them is as safe as Keras' own layers.
_CHRONOLENS_LAYERS = {
    ("chronolens.keras.attention", "AttentionWeights"),
    ("chronolens.keras.attention", "AttentionPooling"),
    ("chronolens.keras.mil", "MILPooling"),
}


def _unsafe_parts(node: Any) -> list[str]:
    """Names of everything in a model configuration that would execute code when loaded."""
    found: list[str] = []
    if isinstance(node, dict):
        name = node.get("class_name")
        if name == "__lambda__":
            found.append("a lambda function stored as bytecode")
        elif name in _CODE_LAYERS:
            found.append(f"a {name} layer (Python code stored in the file)")
        module = node.get("module")
        registered = node.get("registered_name")
        ours = (module, name) in _CHRONOLENS_LAYERS and registered == f"chronolens>{name}"
        if isinstance(module, str) and module.split(".")[0] != "keras" and not ours:
            found.append(f"{name or 'an object'} from module {module!r}")
        if isinstance(registered, str) and ">" in registered and not ours:
            found.append(f"the custom object {registered!r}")
        for value in node.values():
            found.extend(_unsafe_parts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_unsafe_parts(value))
    return found


def check_keras_file(path: Path) -> None:
    """Raise ValueError unless ``path`` holds a Keras model that loads without running code."""
    try:
        config = json.loads(_config_text(path))
        unsafe = sorted(set(_unsafe_parts(config)))
    except (json.JSONDecodeError, UnicodeDecodeError, zipfile.BadZipFile, RecursionError) as error:
        raise ValueError(
            f"{str(path)!r} holds no readable Keras model config ({type(error).__name__})."
        ) from None
    if unsafe:
        raise ValueError(
            f"{str(path)!r} was not loaded: it contains {'; '.join(unsafe)}, which would run "
            "code when loaded. chronolens loads only models built from Keras' own layers from "
            "the command line; load this model in Python yourself (if you trust the file) and "
            "call chronolens.explain() on it."
        )


def load_keras_model(path: str | os.PathLike[str]) -> Any:
    """Load a ``.keras`` archive or a legacy ``.h5`` model safely.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        If Keras is not installed, the file is not a Keras model, or loading it would run code.
    """
    path = Path(path)
    check_keras_file(path)
    if "keras" not in sys.modules and "KERAS_BACKEND" not in os.environ:
        os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras
    except ImportError:
        raise ValueError(
            f"Loading {str(path)!r} needs Keras 3: pip install 'chronolens[keras]'."
        ) from None
    from chronolens.keras import attention, mil  # noqa: F401  (registers chronolens's own layers)

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise ValueError(
            f"Keras could not load {str(path)!r} ({type(error).__name__}: {error})."
        ) from None
