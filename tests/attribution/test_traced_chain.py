"""Exact incremental occlusion for models written as ``class Net(nn.Module)`` (torch.fx chains).

Reference: the same weights in a model whose forward torch.fx cannot trace, which chronolens
explains by recomputing every perturbed series in full, and Captum's Occlusion.
"""

import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from tests.attribution.untraceable import Untraceable
from torch import nn
from torch.nn import functional as F

import chronolens as cl
from chronolens.models import adapt


class GapNet(nn.Module):
    """A conv body, a mean over time, a linear head: the usual hand-written classifier."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv1d(3, 8, 5, padding=2)
        self.bn1 = nn.BatchNorm1d(8)
        self.conv2 = nn.Conv1d(8, 6, 3, dilation=2)
        self.head = nn.Linear(6, 3)
        self.calls = 0
        self.seen: list = []
        with torch.no_grad():
            self.bn1.running_mean.uniform_(-0.5, 0.5)
            self.bn1.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        self.calls += 1
        self.seen.append(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool1d(x, 3, stride=2, padding=1)
        x = torch.tanh(self.conv2(x))
        return self.head(x.mean(dim=-1))


class FlattenNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.body = nn.Sequential(nn.Conv1d(3, 4, 7, stride=2), nn.ReLU(), nn.MaxPool1d(2))
        self.head = nn.Linear(4 * 10, 2)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 3, 3, padding=1)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head((x + self.conv(x)).mean(-1))


@pytest.mark.parametrize("net", [GapNet, FlattenNet])
@pytest.mark.parametrize("channels", ["each", "all"])
def test_traced_chain_is_incremental_and_equals_full_recomputation(net, channels):
    model = net().eval()
    x = np.random.default_rng(2).normal(size=(4, 3, 47)).astype(np.float32)
    params = dict(window=5, stride=3, channels=channels, target=1, baseline="mean")
    fast = cl.explain(model, x, "occlusion", **params)
    full = cl.explain(Untraceable(model), x, "occlusion", **params)
    assert fast.extras["occlusion_path"] == "incremental-chain"
    assert full.extras["occlusion_path"] == "full"
    scale = np.abs(full.attributions).max()
    np.testing.assert_allclose(fast.attributions, full.attributions, rtol=1e-4, atol=1e-5 * scale)


def test_traced_chain_matches_captum_occlusion():
    model = GapNet().eval()
    x = np.random.default_rng(3).normal(size=(3, 3, 41)).astype(np.float32)
    exp = cl.explain(model, x, "occlusion", window=5, stride=3, target=2)
    assert exp.extras["occlusion_path"] == "incremental-chain"
    expected = Occlusion(model).attribute(
        torch.from_numpy(x), sliding_window_shapes=(1, 5), strides=(1, 3), target=2, baselines=0.0
    )
    np.testing.assert_allclose(exp.attributions, expected.numpy(), rtol=1e-4, atol=1e-6)


def test_feature_ablation_is_incremental_on_a_traced_chain():
    model = GapNet().eval()
    x = np.random.default_rng(4).normal(size=(2, 3, 40)).astype(np.float32)
    fast = cl.explain(model, x, "feature_ablation", target=0)
    full = cl.explain(Untraceable(model), x, "feature_ablation", target=0)
    assert fast.extras["occlusion_path"] == "incremental-chain"
    np.testing.assert_allclose(fast.attributions, full.attributions, rtol=1e-4, atol=1e-6)


def test_residual_and_untraceable_models_fall_back_and_nothing_is_touched():
    assert adapt(Residual()).sequential_view() is None
    assert adapt(Untraceable(GapNet())).sequential_view() is None
    model = GapNet().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    view = adapt(model).sequential_view()
    assert view is not None and model.calls == 0 and model.seen == []  # side effects on a copy
    assert [type(m).__name__ for m in view] == [
        "Conv1d",
        "BatchNorm1d",
        "ReLU",
        "MaxPool1d",
        "Conv1d",
        "Tanh",
        "AdaptiveAvgPool1d",
        "Flatten",
        "Linear",
    ]
    assert view[0] is model.conv1 and dict(model.named_children()).keys() == {
        "conv1",
        "bn1",
        "conv2",
        "head",
    }
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
