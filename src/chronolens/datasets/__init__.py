"""Data sets: a small real one shipped with the package and a synthetic one with ground truth.

Every loader returns a :class:`Dataset`, which unpacks into ``X, y`` when it has no mask (real
data) and into ``X, y, mask`` when it has one (synthetic data)::

    from chronolens.datasets import load_basic_motions, make_sensor_events

    X, y = load_basic_motions()  # UEA BasicMotions, 6 x 100, 4 classes, offline
    X, y, mask = make_sensor_events()  # 9 x 300, 4 classes, mask = class-defining events

Ground-truth benchmarks from the literature: :func:`make_interpret_time` (Turbé et al. 2023,
Serramazza et al. 2024), :func:`make_box` (Ismail et al. 2020), :func:`make_dcam` (Boniol
et al. 2022, protocol-matched), :func:`make_webtraffic` (Early et al. 2024, MILLET), the HMM
sets :func:`make_state` and :func:`make_switch_feature` (Dynamask / time_interpret, FIT /
ContraLSP; online tasks with a label per time point) and TimeX's :func:`make_freq_shapes`,
:func:`make_seqcomb_uv`, :func:`make_seqcomb_mv` and :func:`make_lowvar`.
"""

from chronolens.datasets._dataset import Dataset
from chronolens.datasets.basic_motions import load_basic_motions
from chronolens.datasets.box import make_box
from chronolens.datasets.dcam import make_dcam
from chronolens.datasets.freq_shapes import make_freq_shapes
from chronolens.datasets.hmm import make_state, make_switch_feature
from chronolens.datasets.interpret_time import make_interpret_time
from chronolens.datasets.low_var import make_lowvar
from chronolens.datasets.sensor_events import make_sensor_events
from chronolens.datasets.seq_comb import make_seqcomb_mv, make_seqcomb_uv
from chronolens.datasets.webtraffic import make_webtraffic

__all__ = [
    "Dataset",
    "load_basic_motions",
    "make_box",
    "make_dcam",
    "make_freq_shapes",
    "make_interpret_time",
    "make_lowvar",
    "make_sensor_events",
    "make_seqcomb_mv",
    "make_seqcomb_uv",
    "make_state",
    "make_switch_feature",
    "make_webtraffic",
]
