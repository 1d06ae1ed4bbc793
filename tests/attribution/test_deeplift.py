"""DeepLIFT and DeepLIFT-SHAP against Captum, and summation to delta.

References: Captum's ``DeepLift`` and ``DeepLiftShap`` with the same baselines and the same
reference draws; summation to delta (the map sums to f(x) - f(baseline), the scores computed
here from the model itself).

Captum 0.9 applies a ReLU's rule to the plain gradient of a max pool right after it (its two
tensor hooks sit on the same tensor, so the ReLU reads the gradient before the pool's rule
replaces it: Captum issue #1104). Its reference twins of ``conv1d_classifier`` therefore put an
identity (a clone) between each ReLU and its pool: the same function, with Captum's rules
applied as it means them. Captum refuses a shared ``nn.ReLU`` (``zoo.resnet`` uses one per
block), so its ResNet twin has one ReLU per use.
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn

captum_attr = pytest.importorskip("captum.attr")

import chronolens as cl  # noqa: E402
from chronolens import zoo  # noqa: E402
from chronolens.testing import assert_model_unchanged, model_state  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")


class Clone(nn.Module):
    """The identity as a new tensor."""

    def forward(self, x):
        return x.clone()


def captum_conv_twin(model):
    """``conv1d_classifier`` with a clone after each ReLU (see the module docstring)."""
    layers = []
    for layer in copy.deepcopy(model):
        layers += [layer, Clone()] if isinstance(layer, nn.ReLU) else [layer]
    return nn.Sequential(*layers).eval()


class DistinctBlock(nn.Module):
    """A zoo residual block with one ReLU per use, for Captum."""

    def __init__(self, block):
        super().__init__()
        self.block = block
        self.relus = nn.ModuleList([nn.ReLU() for _ in range(3)])

    def forward(self, x):
        b = self.block
        y = self.relus[0](b.bn1(b.conv1(x)))
        y = self.relus[1](b.bn2(b.conv2(y)))
        return self.relus[2](b.bn3(b.conv3(y)) + b.shortcut(x))


def captum_resnet_twin(model):
    twin = copy.deepcopy(model)
    twin.blocks = nn.Sequential(*(DistinctBlock(block) for block in twin.blocks))
    return twin.eval()


@pytest.fixture(scope="module")
def conv():
    return zoo.conv1d_classifier(3, 60, 4, filters=8, kernel_size=5, pool_size=2, seed=0).eval()


@pytest.fixture(scope="module")
def resnet():
    return zoo.resnet(2, 3, filters=(4, 5), seed=1).eval()


def series(n, c, t, seed):
    return np.random.default_rng(seed).normal(size=(n, c, t)).astype(np.float32)


def assert_close(got, expected):
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)


def scores(model, x, target):
    with torch.no_grad():
        return model(torch.as_tensor(x)).numpy()[np.arange(len(x)), target]


BASELINES = {
    "zeros": lambda x: np.zeros_like(x),
    "mean": lambda x: np.broadcast_to(x.mean(axis=-1, keepdims=True), x.shape).copy(),
    1.5: lambda x: np.full_like(x, 1.5),
}


@pytest.mark.parametrize(
    ("name", "baseline"),
    [("conv", "zeros"), ("conv", 1.5), ("resnet", "zeros"), ("resnet", "mean")],
)
def test_deeplift_equals_captum(name, baseline, request):
    model = request.getfixturevalue(name)
    twin = captum_conv_twin(model) if name == "conv" else captum_resnet_twin(model)
    x = series(4, 3, 60, 0) if name == "conv" else series(3, 2, 30, 0)
    target = np.arange(len(x)) % 3
    base = BASELINES[baseline](x)
    got = cl.explain(model, x, "deeplift", baseline=baseline, target=target, progress=False)
    expected = captum_attr.DeepLift(twin).attribute(
        torch.from_numpy(x), baselines=torch.from_numpy(base), target=target.tolist()
    )
    assert_close(got.attributions, expected.detach().numpy())
    # Summation to delta, the score difference computed here from the model.
    change = scores(model, x, target) - scores(model, base, target)
    np.testing.assert_allclose(got.attributions.sum(axis=(1, 2)), change, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got.extras["delta"], 0.0, atol=1e-5)


@pytest.mark.parametrize("name", ["conv", "resnet"])
def test_deeplift_shap_equals_captum_over_the_whole_background(name, request):
    model = request.getfixturevalue(name)
    twin = captum_conv_twin(model) if name == "conv" else captum_resnet_twin(model)
    shape = (3, 60) if name == "conv" else (2, 30)
    x, background = series(3, *shape, 1), series(4, *shape, 2)
    target = [0, 2, 1]
    got = cl.explain(model, x, "deeplift_shap", background=background, target=target)
    expected = captum_attr.DeepLiftShap(twin).attribute(
        torch.from_numpy(x), baselines=torch.from_numpy(background), target=target
    )
    assert_close(got.attributions, expected.detach().numpy())
    expected_score = np.mean(
        [scores(model, np.repeat(b[None], 3, 0), target) for b in background], 0
    )
    change = scores(model, x, target) - expected_score
    np.testing.assert_allclose(got.attributions.sum(axis=(1, 2)), change, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got.extras["delta"], 0.0, atol=1e-5)


def test_deeplift_shap_draws_equal_captum_on_the_drawn_references(conv):
    x, background = series(2, 3, 60, 3), series(6, 3, 60, 4)
    got = cl.explain(conv, x, "deeplift_shap", background=background, n_samples=3, seed=7)
    index = got.extras["background_index"]
    assert index.shape == (3,) and got.extras["n_references"] == 3
    expected = captum_attr.DeepLiftShap(captum_conv_twin(conv)).attribute(
        torch.from_numpy(x),
        baselines=torch.from_numpy(background[index]),
        target=got.target.tolist(),
    )
    assert_close(got.attributions, expected.detach().numpy())
    again = cl.explain(conv, x, "deeplift_shap", background=background, n_samples=3, seed=7)
    np.testing.assert_array_equal(again.attributions, got.attributions)


def test_deeplift_shap_around_a_baseline_is_deeplift_from_each_draw(conv):
    x = series(2, 3, 60, 5)
    got = cl.explain(conv, x, "deeplift_shap", n_samples=3, stdevs=0.5, seed=2, target=[1, 3])
    # The draws: gradient_shap's convention, from the recorded seed.
    generator = torch.Generator().manual_seed(got.extras["seed"])
    noise = 0.5 * torch.randn((3, 3, 60), generator=generator)
    each = [
        captum_attr.DeepLift(captum_conv_twin(conv))
        .attribute(torch.from_numpy(x), baselines=noise[s].expand(2, 3, 60), target=[1, 3])
        .detach()
        .numpy()
        for s in range(3)
    ]
    assert_close(got.attributions, np.mean(each, axis=0))


def test_every_elementwise_activation_sums_to_delta():
    acts = [
        nn.ELU(),
        nn.LeakyReLU(0.1),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.Softplus(),
        nn.GELU(),
        nn.SiLU(),
    ]
    layers = []
    for i, act in enumerate(acts):
        layers += [nn.Conv1d(3 if i == 0 else 4, 4, 3, padding=1), act]
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * 20, 2)).eval()
    x = series(3, 3, 20, 6)
    got = cl.explain(model, x, "deeplift", baseline="mean", target=[0, 1, 0])
    base = BASELINES["mean"](x)
    change = scores(model, x, [0, 1, 0]) - scores(model, base, [0, 1, 0])
    np.testing.assert_allclose(got.attributions.sum(axis=(1, 2)), change, rtol=1e-4, atol=1e-6)


def test_captum_activations_equal_captum():
    torch.manual_seed(3)
    acts = [nn.ELU(), nn.LeakyReLU(0.1), nn.Sigmoid(), nn.Tanh(), nn.Softplus()]
    layers = []
    for i, act in enumerate(acts):
        layers += [nn.Conv1d(3 if i == 0 else 4, 4, 3, padding=1), act]
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * 20, 2)).eval()
    x = series(3, 3, 20, 7)
    got = cl.explain(model, x, "deeplift", target=[0, 1, 1])
    expected = captum_attr.DeepLift(copy.deepcopy(model)).attribute(
        torch.from_numpy(x), target=[0, 1, 1]
    )
    assert_close(got.attributions, expected.detach().numpy())


def test_softmax_head_equals_captum_per_case_and_warns():
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 18, 3), nn.Softmax(dim=1)
    ).eval()
    x = series(2, 2, 20, 8)
    with pytest.warns(RuntimeWarning, match="softmax.*Explain the logits"):
        got = cl.explain(model, x, "deeplift", target=[2, 0])
    dl = captum_attr.DeepLift(copy.deepcopy(model))
    expected = [
        dl.attribute(torch.from_numpy(x[i : i + 1]), target=t) for i, t in enumerate([2, 0])
    ]
    assert_close(got.attributions, torch.cat(expected).detach().numpy())


def test_in_place_relu_gives_the_same_map(conv):
    inplace = copy.deepcopy(conv)
    inplace.relu1.inplace = inplace.relu2.inplace = True
    x = series(2, 3, 60, 9)
    got = cl.explain(inplace, x, "deeplift", target=[0, 1]).attributions
    np.testing.assert_allclose(got, cl.explain(conv, x, "deeplift", target=[0, 1]).attributions)


class FunctionalReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3)
        self.fc = nn.Linear(4 * 18, 2)

    def forward(self, x):
        return self.fc(torch.nn.functional.relu(self.conv(x)).flatten(1))


def test_functional_relu_is_refused_naming_the_fix():
    with pytest.raises(ValueError, match="functional.relu.*nn.ReLU.*'integrated_gradients'"):
        cl.explain(FunctionalReLU().eval(), series(2, 3, 20, 0), "deeplift")


def test_a_layer_without_a_rule_warns_with_the_gap():
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3), nn.LayerNorm(18), nn.ReLU(), nn.Flatten(), nn.Linear(72, 2)
    ).eval()
    with pytest.warns(RuntimeWarning, match="does not sum to f\\(x\\) - f\\(baseline\\)"):
        got = cl.explain(model, series(3, 2, 20, 1), "deeplift", target=[0, 1, 0])
    assert np.abs(got.extras["delta"]).max() > 1e-3


class FailsInside(nn.Module):
    """The conv classifier's layers, raising in the middle of its second forward."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        x = self.model.relu1(self.model.bn1(self.model.conv1(x)))
        if self.calls == 2:
            raise RuntimeError("boom")
        return self.model[4:](self.model.pool1(x))


@pytest.mark.parametrize("method", ["deeplift", "deeplift_shap"])
def test_model_untouched_after_success_and_after_an_error_mid_forward(conv, method):
    model = FailsInside(copy.deepcopy(conv))
    model.train()
    before = model_state(model)
    x = series(3, 3, 60, 2)
    params = {"n_samples": 2, "stdevs": 0.1} if method == "deeplift_shap" else {}
    with pytest.raises(RuntimeError, match="boom"):
        cl.explain(model, x, method, batch_size=2, target=0, **params)
    assert_model_unchanged(model, before)
    model.calls = -100  # no failure from now on
    cl.explain(model, x, method, batch_size=2, target=0, **params)
    assert_model_unchanged(model, before)
    assert model.training


def test_bad_background_names_the_expected_shape(conv):
    with pytest.raises(ValueError, match="background.*\\(n_reference, 3, 60\\)"):
        cl.explain(conv, series(2, 3, 60, 0), "deeplift_shap", background=np.zeros((2, 3, 50)))
