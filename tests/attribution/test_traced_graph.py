"""Exact incremental occlusion on traced graphs: residual blocks, branches, torch.export programs.

Reference: a literal loop that occludes each window, calls the model on the whole perturbed
series and averages the score drops over the windows covering each point (Zeiler & Fergus;
Captum's ``Occlusion`` convention); for feature ablation, the same weights behind a forward
torch.fx cannot trace (full recomputation).
"""

import numpy as np
import pytest
import torch
from tests.attribution.untraceable import Untraceable
from torch import nn
from torch.nn import functional as F

import chronolens as cl
from chronolens import zoo
from chronolens._progress import SILENT
from chronolens.attribution._incremental_graph import graph_plan
from chronolens.attribution._segments import sliding_windows
from chronolens.files import load_model
from chronolens.models import adapt
from chronolens.targets import Target


class Net(nn.Module):
    """Residual blocks in a hand-written forward: identity and 1x1-conv shortcuts, a cat."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem, self.bn = nn.Conv1d(3, 6, 5, stride=2, padding=2), nn.BatchNorm1d(6)
        self.a1 = nn.Conv1d(6, 6, 3, padding=2, dilation=2)
        self.a2 = nn.Conv1d(6, 6, 3, padding=1)
        self.b, self.c = nn.Conv1d(6, 4, 1), nn.Conv1d(6, 4, 7, padding=3)
        self.short = nn.Conv1d(6, 8, 1)
        self.head, self.out = nn.Linear(16, 5), nn.Linear(5, 3)
        self.calls = 0
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        self.calls += 1
        x = F.relu(self.bn(self.stem(x)))
        y = self.a2(torch.relu(self.a1(x))) + x
        y = F.max_pool1d(y, 3, stride=2, padding=1)
        z = torch.cat([self.b(y), torch.tanh(self.c(y))], dim=1) * 0.5 + self.short(y)
        z = F.relu(z)
        pooled = torch.cat([z.mean(-1), z.amax(dim=-1)], dim=1)
        return self.out(F.relu(self.head(pooled)))


class FlatRes(nn.Module):
    """A residual block, then flatten -> linear on a fixed length."""

    def __init__(self, length: int) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv, self.skip = nn.Conv1d(3, 4, 5, padding=2), nn.Conv1d(3, 4, 1)
        self.pool = nn.AvgPool1d(2)
        self.fc = nn.Linear(4 * (length // 2), 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.sigmoid(self.conv(x)) * self.skip(x)), 1))


class Cumulative(nn.Module):
    """A residual net with an operation along time the engine does not know (cumsum)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv, self.fc = nn.Conv1d(3, 3, 3, padding=1), nn.Linear(3, 2)

    def forward(self, x):
        return self.fc((self.conv(x) + torch.cumsum(x, dim=-1)).mean(-1))


def literal_occlusion(model, x, window, stride, channels, target, baseline):
    """Occlude each window, score the whole perturbed series, average drops per point."""
    n, c, t = x.shape
    starts = [0]
    while starts[-1] + window < t:
        starts.append(starts[-1] + stride)
    groups = [[k] for k in range(c)] if channels == "each" else [list(range(c))]
    total, count = np.zeros((n, len(groups), t)), np.zeros((n, len(groups), t))
    xt = torch.from_numpy(x)
    fill = xt.mean(dim=-1, keepdim=True).expand_as(xt) if baseline == "mean" else 0 * xt
    with torch.no_grad():
        score = model(xt)[:, target].numpy()
        for g, group in enumerate(groups):
            for start in starts:
                stop = min(start + window, t)
                perturbed = xt.clone()
                perturbed[:, group, start:stop] = fill[:, group, start:stop]
                drop = score - model(perturbed)[:, target].numpy()
                total[:, g, start:stop] += drop[:, None]
                count[:, g, start:stop] += 1
    return total / count


def tolerance(expected, scores):
    """Absolute tolerance for occlusion drops: each drop is a difference of two float32 logits
    summed in different orders by the two engines, so its rounding is a few ulps of the logit
    (8 ulps of float32 here), however small the drop itself."""
    ulps = 8 * np.finfo(np.float32).eps * np.abs(scores).max()
    return max(1e-5 * np.abs(expected).max(), ulps)


def check(exp, expected, path):
    assert exp.extras["occlusion_path"] == path
    atol = tolerance(expected, exp.scores)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=atol)


MODELS = {
    "resnet": lambda: zoo.resnet(3, 3, filters=(6, 6), seed=3),
    "net": Net,
    "flatres": lambda: FlatRes(45),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("channels", ["each", "all"])
def test_graph_engine_equals_the_literal_loop(name, channels):
    model = MODELS[name]().eval()
    x = np.random.default_rng(4).normal(size=(3, 3, 45)).astype(np.float32)
    baseline = "mean" if channels == "each" else 0.0
    params = dict(window=7, stride=4, channels=channels, target=1, baseline=baseline)
    exp = cl.explain(model, x, "occlusion", **params)
    expected = literal_occlusion(model, x, 7, 4, channels, 1, baseline)
    check(exp, expected, "incremental-graph")


def test_exported_program_runs_incrementally(tmp_path):
    model = Net().eval()
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.randn(2, 3, 41),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "net.pt2")
    loaded = load_model(tmp_path / "net.pt2")
    x = np.random.default_rng(5).normal(size=(2, 3, 41)).astype(np.float32)
    for channels in ("each", "all"):
        exp = cl.explain(loaded, x, "occlusion", window=6, stride=5, channels=channels, target=2)
        check(exp, literal_occlusion(model, x, 6, 5, channels, 2, 0.0), "incremental-graph")
    exp = cl.explain(program.module(), x, "occlusion", window=6, stride=5, target=0)
    check(exp, literal_occlusion(model, x, 6, 5, "each", 0, 0.0), "incremental-graph")


@pytest.mark.parametrize("name", ["fcn", "conv1d_classifier"])
def test_sequential_zoo_models_take_the_chain_and_the_graph_engine_agrees(name):
    if name == "fcn":
        model = zoo.fcn(3, 3, filters=(6, 8, 6), seed=1).eval()
    else:
        model = zoo.conv1d_classifier(3, 60, 3, filters=6, kernel_size=5, pool_size=2).eval()
    x = np.random.default_rng(6).normal(size=(2, 3, 60)).astype(np.float32)
    exp = cl.explain(model, x, "occlusion", window=9, stride=4, target=0)
    expected = literal_occlusion(model, x, 9, 4, "each", 0, 0.0)
    check(exp, expected, "incremental-chain")
    xt = torch.from_numpy(x)
    plan = graph_plan(adapt(model), xt)  # the graph engine on the same model
    assert plan is not None
    windows = sliding_windows(3, 60, 9, 4, "each")
    target = Target(indices=torch.zeros(2, dtype=torch.long))
    drops, _ = plan.score_drops(xt, target, windows, torch.zeros_like(xt), 64, SILENT)
    attributions = windows.spread(drops, 3, 60, average=True)
    atol = tolerance(expected, exp.scores)
    np.testing.assert_allclose(attributions, expected, rtol=1e-4, atol=atol)


def test_feature_ablation_on_a_residual_net_equals_full_recomputation():
    model = zoo.resnet(3, 3, filters=(6, 6), seed=4).eval()
    x = np.random.default_rng(7).normal(size=(2, 3, 43)).astype(np.float32)
    for channels in ("each", "all"):
        params = dict(n_segments=6, channels=channels, target=2, baseline="local_mean")
        fast = cl.explain(model, x, "feature_ablation", **params)
        full = cl.explain(Untraceable(model), x, "feature_ablation", **params)
        assert full.extras["occlusion_path"] == "full"
        check(fast, full.attributions, "incremental-graph")


def test_unknown_operation_falls_back_and_still_matches():
    model = Cumulative().eval()
    x = np.random.default_rng(8).normal(size=(2, 3, 30)).astype(np.float32)
    exp = cl.explain(model, x, "occlusion", window=5, stride=3, target=1)
    check(exp, literal_occlusion(model, x, 5, 3, "each", 1, 0.0), "full")


def test_the_users_model_is_untouched():
    model = Net().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = np.random.default_rng(9).normal(size=(2, 3, 40)).astype(np.float32)
    exp = cl.explain(model, x, "occlusion", window=5, stride=5, target=0)
    assert model.training and all(m.training for m in model.modules())
    assert model.calls < exp.extras["n_windows"] // 4  # windows are not scored by the forward
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    check(exp, literal_occlusion(Net().eval(), x, 5, 5, "each", 0, 0.0), "incremental-graph")


def test_a_forward_hook_leaves_the_model_to_full_recomputation():
    model = zoo.resnet(3, 3, filters=(4,), seed=5).eval()
    handle = model.blocks[0].conv2.register_forward_hook(lambda m, i, out: out - out.mean(-1, True))
    try:
        x = np.random.default_rng(10).normal(size=(2, 3, 30)).astype(np.float32)
        exp = cl.explain(model, x, "occlusion", window=5, stride=3, target=1)
        check(exp, literal_occlusion(model, x, 5, 3, "each", 1, 0.0), "full")
    finally:
        handle.remove()
