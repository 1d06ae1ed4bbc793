"""Read models and series from files, safely.

Models: TorchScript archives (``torch.jit.save``) and ``torch.export`` programs (``.pt2``).
Neither format unpickles arbitrary Python objects; chronolens never calls ``torch.load`` on a
pickled module. Keras models (``.keras``, legacy ``.h5``) load in Keras' safe mode after a check
that they hold no code (see :mod:`chronolens._keras_files`). Series: ``.npy``, ``.npz`` (one
array by key) and ``.csv``.
"""

from __future__ import annotations

import csv
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from chronolens._archive_safety import EXPORT_HINT as _EXPORT_HINT

MODEL_SUFFIXES = (".pt2", ".pt", ".pth", ".ts", ".jit", ".torchscript")


def _static_batch(program: Any) -> int | None:
    """The fixed batch size of an exported program's first input, or None when it is dynamic."""
    try:
        name = program.graph_signature.user_inputs[0]
        node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == name)
        first = node.meta["val"].shape[0]
    except (AttributeError, IndexError, KeyError, StopIteration):
        return None
    return int(first) if isinstance(first, int) else None


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model saved with ``torch.export.save`` (.pt2), TorchScript (``.pt``) or Keras.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    torch.nn.Module
        For ``.pt2`` archives, the program unflattened back into its module hierarchy (so CAM
        methods can name layers such as ``"conv2"``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a model archive chronolens can load without unpickling.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    if path.suffix.lower() in (".keras", ".h5", ".hdf5"):
        from chronolens._keras_files import load_keras_model

        return load_keras_model(path)
    if path.suffix == ".pt2":
        from chronolens._archive_safety import check_export_archive

        try:
            check_export_archive(path)
        except zipfile.BadZipFile:
            raise ValueError(
                f"{str(path)!r} is not a torch.export archive (not a zip file). Save one with "
                f"{_EXPORT_HINT}."
            ) from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                program = torch.export.load(str(path))
                module = torch.export.unflatten(program)
        except Exception as error:
            raise ValueError(
                f"{str(path)!r} is not a readable torch.export archive ({type(error).__name__}: "
                f"{error}). Save one with {_EXPORT_HINT}."
            ) from None
        batch = _static_batch(program)
        if batch is not None and batch != 1:
            raise ValueError(
                f"{str(path)!r} was exported for batches of exactly {batch} cases, so it cannot "
                f"run on other numbers of cases. Export it with a dynamic batch: {_EXPORT_HINT}."
            )
        if batch == 1:  # exported from a single example: run it one case at a time
            object.__setattr__(module, "chronolens_max_rows", 1)  # read by the torch adapter
        return module
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{str(path)!r} is not a model archive. chronolens loads TorchScript files "
            "(torch.jit.script(model).save('model.pt')) and torch.export archives ('model.pt2'); "
            "it never unpickles arbitrary objects."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as error:
        raise ValueError(
            f"{str(path)!r} is not a TorchScript archive ({type(error).__name__}). A file written "
            "by torch.save(model) holds pickled code, which chronolens does not execute: save the "
            "model with torch.jit.script(model).save(path) or torch.export.save(...) instead."
        ) from None


def _check_npy_header(handle: Any, available: int, what: str) -> None:
    """Refuse an .npy stream whose header claims more data than there is (before allocating).

    Parameters
    ----------
    handle : binary file
        Positioned at the start of the .npy data.
    available : int
        Bytes the stream holds in total (the file's or the zip member's size).
    what : str
        The file, for messages.
    """
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except ValueError as error:
        raise ValueError(f"{what!r} is not a readable .npy array ({error}).") from None
    if dtype.hasobject:
        raise ValueError(
            f"{what!r} holds Python objects (dtype {dtype}), which would need unpickling; "
            "chronolens reads numeric arrays only. Save the series as float32."
        )
    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if needed > available:
        raise ValueError(
            f"{what!r} claims an array of shape {shape} ({needed / 2**30:,.1f} GiB of "
            f"{dtype}) but holds {available:,} bytes: the file is truncated or its header is "
            "wrong. Save the array again with numpy.save."
        )


def _check_npz_headers(path: Path) -> None:
    """Check the header of every array of an .npz file against the bytes it holds."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{str(path)!r} is not a readable .npz file (not a zip).") from None
    with archive:
        for info in archive.infolist():
            if info.filename.endswith(".npy"):
                with archive.open(info) as handle:
                    _check_npy_header(handle, info.file_size, f"{path}:{info.filename}")


def load_series(
    path: str | os.PathLike[str], *, key: str | None = None
) -> tuple[np.ndarray, list[str] | None]:
    """Load series from ``.npy``, ``.npz`` or ``.csv``.

    Parameters
    ----------
    path : str or path-like
        ``.npy``: the array. ``.npz``: the array named ``key`` (or the only array in the file).
        ``.csv``: one series, a row per time point and a column per channel; a first row that
        is not numeric is read as channel names.
    key : str, optional
        The array to read from a ``.npz`` file.

    Returns
    -------
    array : numpy.ndarray
        As stored (its layout is checked later by :func:`chronolens.as_series`); for CSV files,
        shape (1, n_channels, n_timepoints).
    channel_names : list of str or None
        From a CSV header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No data file at {str(path)!r}.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with open(path, "rb") as handle:
            _check_npy_header(handle, path.stat().st_size, str(path))
        return np.load(path, allow_pickle=False), None
    if suffix == ".npz":
        _check_npz_headers(path)
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            if key is None:
                if len(names) != 1:
                    raise ValueError(
                        f"{str(path)!r} holds several arrays ({', '.join(names)}); choose one with "
                        "--key (or key=...)."
                    )
                key = names[0]
            if key not in names:
                raise ValueError(
                    f"{str(path)!r} has no array {key!r}; it holds: {', '.join(names)}."
                )
            return data[key], None
    if suffix == ".csv":
        with open(path, newline="") as handle:
            rows = [row for row in csv.reader(handle) if row]
        if not rows:
            raise ValueError(f"{str(path)!r} is empty.")
        header = None
        try:
            [float(v) for v in rows[0]]
        except ValueError:
            header, rows = [v.strip() for v in rows[0]], rows[1:]
        if not rows:
            raise ValueError(
                f"{str(path)!r} has a header row but no values: a CSV series needs one row per "
                "time point under it."
            )
        first = header if header is not None else rows[0]
        ragged = [i for i, row in enumerate(rows) if len(row) != len(first)]
        if ragged:
            line = ragged[0] + 1 + (header is not None)  # 1-based line in the file
            raise ValueError(
                f"{str(path)!r}: every row must have the same number of columns (one per "
                f"channel); line {line} has {len(rows[ragged[0]])}, the first has {len(first)}."
            )
        try:
            values = np.array([[float(v) for v in row] for row in rows], dtype=np.float32)
        except ValueError as error:
            raise ValueError(
                f"{str(path)!r} holds a value that is not a number: {error}."
            ) from None
        return values.T[None], header
    raise ValueError(f"Cannot read series from {str(path)!r}: use a .npy, .npz or .csv file.")
