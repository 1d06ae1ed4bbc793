"""Data sets: a small real one shipped with the package and a synthetic one with ground truth.

Every loader returns a :class:`Dataset`, which unpacks into ``X, y`` when it has no mask (real
data) and into ``X, y, mask`` when it has one (synthetic data)::

    from chronolens.datasets import load_basic_motions, make_sensor_events

    X, y = load_basic_motions()  # UEA BasicMotions, 6 x 100, 4 classes, offline
    X, y, mask = make_sensor_events()  # 9 x 300, 4 classes, mask = class-defining events
"""

from chronolens.datasets._dataset import Dataset
from chronolens.datasets.basic_motions import load_basic_motions
from chronolens.datasets.sensor_events import make_sensor_events

__all__ = ["Dataset", "load_basic_motions", "make_sensor_events"]
