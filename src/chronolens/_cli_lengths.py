"""Unequal-length series on the command line: ``--lengths-key`` and ``--pad-value``.

A ``.npz`` file holds the cases padded at the end to one length, and an integer array giving
each case's real length (``np.savez("cases.npz", x=padded, lengths=lengths)``). With
``--lengths-key lengths`` the command cuts every case to its length and explains the list as
:func:`chronolens.explain` explains unequal-length data; ``--pad-value`` is its ``pad_value``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np


def add_length_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--lengths-key`` and ``--pad-value`` to a subcommand."""
    parser.add_argument(
        "--lengths-key",
        help="unequal lengths: name of the integer array in the .npz DATA giving each case's "
        "length (the cases are stored padded at the end)",
    )
    parser.add_argument(
        "--pad-value",
        type=float,
        help="unequal lengths: pad every case with this value before the model sees it "
        "(default: each length is explained at its own length)",
    )


def read_lengths(args: argparse.Namespace, n_cases: int, n_timepoints: int) -> np.ndarray:
    """The ``--lengths-key`` array of the DATA file, checked."""
    if not str(args.data).lower().endswith(".npz"):
        raise ValueError(
            f"--lengths-key reads an array from a .npz file; {args.data!r} is not one. Save the "
            "padded cases and their lengths together: np.savez('cases.npz', x=x, lengths=n)."
        )
    with np.load(args.data, allow_pickle=False) as archive:
        if args.lengths_key not in archive.files:
            raise ValueError(
                f"--lengths-key {args.lengths_key!r} is not in {args.data!r}; it holds "
                f"{sorted(archive.files)}."
            )
        lengths = np.asarray(archive[args.lengths_key])
    from chronolens._lengths import check_lengths  # imports torch: only when asked

    try:
        return check_lengths(lengths, n_cases, n_timepoints)
    except ValueError as error:
        raise ValueError(f"--lengths-key {args.lengths_key!r}: {error}") from error


def cut_cases(data: np.ndarray, lengths: np.ndarray, layout: str) -> list[np.ndarray]:
    """``data`` (n, c, t) or (n, t, c) as a list of cases cut to their lengths."""
    if layout == "nlc":
        return [case[:length] for case, length in zip(data, lengths)]
    return [case[:, :length] for case, length in zip(data, lengths)]


def load_cases(args: argparse.Namespace, path: str, key: str | None) -> Any:
    """Series from ``path`` (a list of cut cases with ``--lengths-key``) and channel names."""
    from chronolens.files import load_series

    data, channel_names = load_series(path, key=key)
    if getattr(args, "lengths_key", None) is None:
        if getattr(args, "pad_value", None) is not None:
            raise ValueError(
                "--pad-value is for unequal-length data: also pass --lengths-key with the name "
                "of the lengths array in the .npz file, or drop --pad-value."
            )
        return data, channel_names
    if np.ndim(data) != 3:
        raise ValueError(
            f"--lengths-key needs the padded cases as a 3-D array; {path!r} holds shape "
            f"{np.shape(data)}."
        )
    time_axis = 1 if args.layout == "nlc" else 2
    lengths = read_lengths(args, data.shape[0], data.shape[time_axis])
    return cut_cases(data, lengths, args.layout), channel_names
