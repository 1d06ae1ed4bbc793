"""``chronolens demo`` explains its CNN with exactly the registered methods that apply to it.

Reference: what ``explain()`` itself says on the demo's architecture. Every method the demo
leaves out refuses this network with a clear error, and every method it keeps binds to it, so
a new registered method is either run by the demo or knowingly left out (the demo, the README's
first command, stopped at 'mil' before).
"""

import numpy as np
import pytest

import chronolens as cl
from chronolens import zoo
from chronolens._binding import bind
from chronolens.demo import demo_methods
from chronolens.models import adapt
from chronolens.models.base import CapabilityError

N_CLASSES = 4


@pytest.fixture(scope="module")
def demo_cnn():
    return zoo.conv1d_classifier(9, 300, N_CLASSES, seed=0).eval()


def test_every_method_the_demo_runs_binds_to_its_network(demo_cnn):
    model = adapt(demo_cnn)
    for name in demo_methods():
        params = cl.registry.get_method(name).demo_params
        bind(name, model, n_channels=9, n_timepoints=300, params=dict(params), seed=0)


def test_every_method_the_demo_leaves_out_refuses_its_network(demo_cnn):
    left_out = [n for n in cl.methods().names() if n not in demo_methods()]
    assert {"cam", "dcam", "mil", "attention"} <= set(left_out)
    x = np.random.default_rng(0).normal(size=(1, 9, 300)).astype(np.float32)
    for name in left_out:
        with pytest.raises((ValueError, CapabilityError)):
            cl.explain(demo_cnn, x, name, target=0, seed=0)
