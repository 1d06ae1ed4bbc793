"""The one-case input check runs once per model and input shape; its errors stay as clear.

Reference: the forward passes the model runs (a forward hook counts them), and the error the
first call on the same bad data gives.
"""

import numpy as np
import pytest
import torch
from tests.test_batching import _counted
from torch import nn

import chronolens as cl
from chronolens.testing import tiny_conv_model


class InRange(nn.Module):
    """Refuses values beyond +-100, as a user's model with its own input check does."""

    def __init__(self) -> None:
        super().__init__()
        self.body = tiny_conv_model(n_channels=3, n_classes=3, seed=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.abs().max() > 100:
            raise RuntimeError("sensor saturated: values beyond +-100")
        return self.body(x)


class TwoHeads(nn.Module):
    """``wide = True`` switches to a five-class head: the output's shape follows a flag."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)
        self.narrow, self.broad = nn.Linear(4, 2), nn.Linear(4, 5)
        self.wide = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x)).mean(-1)
        return self.broad(h) if self.wide else self.narrow(h)


def test_the_check_forward_runs_once_per_model_and_shape() -> None:
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=0)
    x = np.random.default_rng(0).normal(size=(4, 3, 40)).astype(np.float32)
    calls = _counted(model)
    first = cl.explain(model, x, "saliency", target=1)
    assert calls[0] == 1  # the one-case check
    calls.clear()
    second = cl.explain(model, x, "saliency", target=1)
    assert calls == [4]  # the work only
    np.testing.assert_array_equal(first.attributions, second.attributions)
    np.testing.assert_array_equal(first.scores, second.scores)
    calls.clear()
    cl.explain(model, x[:, :, :30], "saliency", target=1)
    assert calls[0] == 1  # another length is checked again


def test_unchecked_bad_data_gets_the_same_clear_error() -> None:
    model = InRange()
    x = np.random.default_rng(1).normal(size=(3, 3, 40)).astype(np.float32)
    cl.explain(model, x, "saliency", target=0)
    bad = x.copy()
    bad[0, 1, 5] = 1e4
    with pytest.raises(ValueError, match="The model failed on the data") as info:
        cl.explain(model, bad, "saliency", target=0)
    expected = info.value
    assert isinstance(expected.__cause__, RuntimeError)
    assert "sensor saturated" in str(expected)
    # the same message as the check gives on a model it has not seen
    with pytest.raises(ValueError) as fresh:
        cl.explain(InRange(), bad, "saliency", target=0)
    assert str(fresh.value) == str(expected)


def test_a_bad_target_still_says_so() -> None:
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=0)
    x = np.random.default_rng(2).normal(size=(2, 3, 40)).astype(np.float32)
    cl.explain(model, x, "saliency", target=0)
    with pytest.raises(ValueError, match="target"):
        cl.explain(model, x, "saliency", target=7)


def test_a_flag_that_changes_the_output_shape_is_seen() -> None:
    model = TwoHeads().eval()
    x = np.random.default_rng(3).normal(size=(2, 3, 20)).astype(np.float32)
    assert cl.explain(model, x, "grad_cam", target=1).scores.shape == (2, 2)
    with pytest.raises(ValueError, match="target"):
        cl.explain(model, x, "saliency", target=4)
    model.wide = True
    exp = cl.explain(model, x, "saliency", target=4)  # valid for the five-class head
    assert exp.scores.shape == (2, 5)
