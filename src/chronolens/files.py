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

MODEL_SUFFIXES = (".pt2", ".pt", ".pth", ".ts", ".jit", ".torchscript")


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
                "torch.export.save(torch.export.export(model, (example,)), 'model.pt2')."
            ) from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                program = torch.export.load(str(path))
                return torch.export.unflatten(program)
        except Exception as error:
            raise ValueError(
                f"{str(path)!r} is not a readable torch.export archive ({type(error).__name__}: "
                f"{error}). Save one with torch.export.save(torch.export.export(model, "
                "(example,)), 'model.pt2')."
            ) from None
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
        return np.load(path, allow_pickle=False), None
    if suffix == ".npz":
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
        try:
            values = np.array([[float(v) for v in row] for row in rows], dtype=np.float32)
        except ValueError as error:
            raise ValueError(
                f"{str(path)!r} holds a value that is not a number: {error}."
            ) from None
        if values.ndim != 2:
            raise ValueError(f"{str(path)!r}: every row must have the same number of columns.")
        return values.T[None], header
    raise ValueError(f"Cannot read series from {str(path)!r}: use a .npy, .npz or .csv file.")
