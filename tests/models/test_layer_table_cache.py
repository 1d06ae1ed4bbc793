"""The torch layer table is recorded once per model, structure, flags and shape, and follows edits.

Reference: the number of forward passes the model runs (a forward hook counts them), and the
default-layer rule of the README ("the last module whose output still has a time axis", a
module called twice per pass being ambiguous) worked out by hand for each model.
"""

import numpy as np
import torch
from tests.test_batching import _counted
from torch import nn

import chronolens as cl
from chronolens import zoo
from chronolens.testing import assert_model_unchanged, model_state


class Switchable(nn.Module):
    """Two conv stages; ``use_second = False`` skips the second (a flag the forward reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv1d(3, 4, 3, padding=1)
        self.second = nn.Conv1d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)
        self.use_second = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.first(x))
        if self.use_second:
            h = torch.relu(self.second(h))
        return self.head(h.mean(-1))


def test_the_table_forward_runs_once_per_model_and_shape() -> None:
    model = zoo.conv1d_classifier(3, 100, 2, seed=0).eval()
    x = np.random.default_rng(0).normal(size=(4, 3, 100)).astype(np.float32)
    calls = _counted(model)
    first = cl.explain(model, x, "grad_cam", target=0)
    assert calls == [1, 1, 4]  # the input check, the zero-series table, the work
    calls.clear()
    second = cl.explain(model, x, "grad_cam", target=0)
    assert calls == [4]  # the table is not recorded again (nor the input checked)
    np.testing.assert_array_equal(first.attributions, second.attributions)
    calls.clear()
    cl.explain(model, x, "layer_cam", target=1, layer="conv1")
    assert calls == [4]  # nor for another method or layer of the same model and shape


def test_an_edited_architecture_gets_a_new_table() -> None:
    model = nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(80, 2))
    x = np.random.default_rng(1).normal(size=(2, 3, 20)).astype(np.float32)
    assert cl.explain(model, x, "grad_cam", target=0).extras["layer"] == "1"
    model[2] = nn.Sequential(nn.Conv1d(4, 4, 3, padding=1), nn.Flatten())
    assert cl.explain(model, x, "grad_cam", target=0).extras["layer"] == "2.0"


def test_a_flag_that_changes_the_forward_gets_a_new_table() -> None:
    model = Switchable().eval()
    x = np.random.default_rng(2).normal(size=(2, 3, 20)).astype(np.float32)
    assert cl.explain(model, x, "grad_cam", target=0).extras["layer"] == "second"
    model.use_second = False
    assert cl.explain(model, x, "grad_cam", target=0).extras["layer"] == "first"
    model.use_second = True
    assert cl.explain(model, x, "grad_cam", target=0).extras["layer"] == "second"


def test_shared_outputs_stay_distinct_in_the_cached_table() -> None:
    # zoo.ResNet's blocks call one ReLU module twice: the README's rule skips it and takes the
    # block, whose output has the same shape as its conv, BN and ReLU outputs. A table that
    # confused same-shaped outputs would pick another module on the cached call.
    model = zoo.resnet(3, 2, filters=(4, 4), seed=0).eval()
    x = np.random.default_rng(3).normal(size=(2, 3, 30)).astype(np.float32)
    before = model_state(model)
    layers = [cl.explain(model, x, "grad_cam", target=1).extras["layer"] for _ in range(2)]
    assert layers == ["blocks.1", "blocks.1"]
    assert_model_unchanged(model, before)
    assert not any(k.startswith("_chronolens") for k in vars(model))
