"""Guided backpropagation and deconvnet against Captum and a closed form.

References: Captum's ``GuidedBackprop`` and ``Deconvolution`` (their ReLU rules are stateless,
so they handle ``zoo.resnet``'s shared ReLU); the two-layer network's closed form written here.
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

CAPTUM = {"guided_backprop": "GuidedBackprop", "deconvnet": "Deconvolution"}


def series(n, c, t, seed):
    return np.random.default_rng(seed).normal(size=(n, c, t)).astype(np.float32)


def assert_close(got, expected):
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)


MODELS = {
    "conv": lambda: zoo.conv1d_classifier(3, 60, 4, filters=8, kernel_size=5, pool_size=2),
    "resnet": lambda: zoo.resnet(3, 4, filters=(4, 5), seed=1),
}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", list(CAPTUM))
def test_equals_captum(method, name):
    model = MODELS[name]().eval()
    x = series(4, 3, 60, 0)
    target = [0, 1, 2, 3]
    got = cl.explain(model, x, method, target=target)
    expected = getattr(captum_attr, CAPTUM[method])(copy.deepcopy(model)).attribute(
        torch.from_numpy(x), target=target
    )
    assert_close(got.attributions, expected.detach().numpy())


@pytest.mark.parametrize("method", list(CAPTUM))
def test_two_layer_network_closed_form(method):
    torch.manual_seed(0)
    hidden, out = nn.Linear(12, 6), nn.Linear(6, 3)
    model = nn.Sequential(nn.Flatten(), hidden, nn.ReLU(), out).eval()
    x = series(3, 2, 6, 1)
    got = cl.explain(model, x, method, target=[2, 0, 1]).attributions
    with torch.no_grad():
        h = hidden(torch.from_numpy(x).flatten(1))
        arriving = out.weight[[2, 0, 1]]  # (cases, 6): d score / d relu output
        if method == "guided_backprop":  # the ReLU's gradient, then its positive part
            passed = (arriving * (h > 0)).clamp(min=0)
        else:  # the arriving gradient's positive part, the unit on or off
            passed = arriving.clamp(min=0)
        expected = (passed @ hidden.weight).reshape(3, 2, 6)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-7)


class FunctionalReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3)
        self.fc = nn.Linear(4 * 18, 2)

    def forward(self, x):
        return self.fc(self.conv(x).relu().flatten(1))


@pytest.mark.parametrize("method", list(CAPTUM))
def test_functional_relu_is_refused(method):
    with pytest.raises(ValueError, match="torch.relu outside any layer.*nn.ReLU modules"):
        cl.explain(FunctionalReLU().eval(), series(2, 3, 20, 0), method)


class FailsInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.relu, self.fc = nn.Conv1d(3, 4, 3), nn.ReLU(), nn.Linear(4 * 18, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        y = self.relu(self.conv(x))
        if self.calls == 2:
            raise RuntimeError("boom")
        return self.fc(y.flatten(1))


@pytest.mark.parametrize("method", list(CAPTUM))
def test_model_untouched_after_an_error_mid_forward(method):
    model = FailsInside()
    before = model_state(model)
    x = series(4, 3, 20, 2)
    with pytest.raises(RuntimeError, match="boom"):
        cl.explain(model, x, method, batch_size=2, target=0)
    assert_model_unchanged(model, before)
    model.calls = -100  # no failure from now on: the plain gradient is the plain gradient
    inputs = torch.from_numpy(x).requires_grad_(True)
    (plain,) = torch.autograd.grad(model(inputs)[:, 0].sum(), inputs)
    saliency = cl.explain(model, x, "saliency", abs=False, target=0).attributions
    np.testing.assert_allclose(saliency, plain.numpy(), rtol=1e-6, atol=1e-8)
