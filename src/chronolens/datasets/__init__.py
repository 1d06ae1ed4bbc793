"""Data sets: a small real one shipped with the package and a synthetic one with ground truth.

Every loader returns a :class:`Dataset`, which unpacks into ``X, y`` when it has no mask (real
data) and into ``X, y, mask`` when it has one (synthetic data)::

    from chronolens.datasets import load_basic_motions, make_sensor_events

    X, y = load_basic_motions()  # UEA BasicMotions, 6 x 100, 4 classes, offline
    X, y, mask = make_sensor_events()  # 9 x 300, 4 classes, mask = class-defining events

Ground-truth benchmarks from the literature: :func:`make_interpret_time` (Turbé et al. 2023,
Serramazza et al. 2024), :func:`make_box` (Ismail et al. 2020), :func:`make_dcam` (Boniol
et al. 2022, protocol-matched), :func:`make_webtraffic` (Early et al. 2024, MILLET).
"""

from chronolens.datasets._dataset import Dataset
from chronolens.datasets.basic_motions import load_basic_motions
from chronolens.datasets.box import make_box
from chronolens.datasets.dcam import make_dcam
from chronolens.datasets.interpret_time import make_interpret_time
from chronolens.datasets.sensor_events import make_sensor_events
from chronolens.datasets.webtraffic import make_webtraffic

__all__ = [
    "Dataset",
    "load_basic_motions",
    "make_box",
    "make_dcam",
    "make_interpret_time",
    "make_sensor_events",
    "make_webtraffic",
]
