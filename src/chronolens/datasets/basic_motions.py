"""The UEA BasicMotions data set, shipped with chronolens so that it loads offline."""

from __future__ import annotations

import io
from importlib.resources import files

import numpy as np

from chronolens.datasets._dataset import Dataset

_SPLITS = ("train", "test")
_DATA_FILE = "basic_motions.npz"


def _read() -> dict[str, np.ndarray]:
    resource = files("chronolens.datasets").joinpath("data", _DATA_FILE)
    with np.load(io.BytesIO(resource.read_bytes()), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def load_basic_motions(split: str | None = "train") -> Dataset:
    """Load BasicMotions: smartwatch motion, 6 channels x 100 timepoints, 4 classes.

    Four people wore a smartwatch while standing, walking, running and playing badminton; each
    case is ten seconds of the watch's 3-D accelerometer and 3-D gyroscope sampled at 10 Hz.
    The train and test splits hold 40 cases each, 10 per class, in the order of the archive.

    Parameters
    ----------
    split : {"train", "test"} or None, default="train"
        Which split to return; None returns the 40 train cases followed by the 40 test cases.

    Returns
    -------
    Dataset
        ``X`` float32 of shape (n_cases, 6, 100); ``y`` int64 codes into
        ``class_names = ("Standing", "Running", "Walking", "Badminton")`` (the order of the
        archive's ``@classLabel`` header); ``channel_names = ("accel_x", "accel_y", "accel_z",
        "gyro_x", "gyro_y", "gyro_z")``; ``mask`` is None (real data has no ground truth), so
        the dataset unpacks as ``X, y = load_basic_motions()``.

    Raises
    ------
    ValueError
        If ``split`` is not "train", "test" or None.

    Notes
    -----
    The data was collected by Clement (2016) in a student project [2]_ and is distributed as
    ``BasicMotions`` in the UEA multivariate time series classification archive (Bagnall et
    al., 2018) [1]_. The copy shipped here was converted from ``BasicMotions_TRAIN.ts`` and
    ``BasicMotions_TEST.ts`` as distributed with aeon 1.6.0, stored as float32.

    References
    ----------
    .. [1] A. Bagnall, H. A. Dau, J. Lines, M. Flynn, J. Large, A. Bostrom, P. Southam and
       E. Keogh, "The UEA multivariate time series classification archive, 2018",
       arXiv:1811.00075, 2018. https://timeseriesclassification.com
    .. [2] J. Clement, BasicMotions, 2016: data from a student project in which four students
       recorded four activities five times each with a smartwatch; described at
       https://timeseriesclassification.com/description.php?Dataset=BasicMotions

    Examples
    --------
    >>> from chronolens.datasets import load_basic_motions
    >>> X, y = load_basic_motions()
    >>> X.shape, y.shape
    ((40, 6, 100), (40,))
    >>> load_basic_motions(None).X.shape
    (80, 6, 100)
    """
    if split is not None and (not isinstance(split, str) or split.lower() not in _SPLITS):
        raise ValueError(
            f"`split` must be 'train', 'test' or None (train followed by test); got {split!r}. "
            "Pass one of those."
        )
    data = _read()
    if split is None:
        X = np.concatenate([data["X_train"], data["X_test"]])
        y = np.concatenate([data["y_train"], data["y_test"]])
        label = "train+test"
    else:
        label = split.lower()
        X, y = data[f"X_{label}"], data[f"y_{label}"]
    return Dataset(
        X=X.astype(np.float32, copy=False),
        y=y.astype(np.int64, copy=False),
        mask=None,
        class_names=tuple(str(n) for n in data["class_names"]),
        channel_names=tuple(str(n) for n in data["channel_names"]),
        name=f"BasicMotions ({label})",
    )
