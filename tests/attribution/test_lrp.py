"""LRP against zennit (same model, composite, canonizer and output relevance), conservation,
a literal loop of the z+ rule on a two-layer network, the model left untouched, refusals."""

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens import zoo
from chronolens.models.base import CapabilityError
from chronolens.testing import assert_model_unchanged, linear_model, model_state
from chronolens.testing.models import _randomise_norms

COMPOSITES = {
    "epsilon_plus": "EpsilonPlus",
    "epsilon_plus_flat": "EpsilonPlusFlat",
    "epsilon_alpha2_beta1": "EpsilonAlpha2Beta1",
    "epsilon_alpha2_beta1_flat": "EpsilonAlpha2Beta1Flat",
    "epsilon_gamma_box": "EpsilonGammaBox",
}


def zennit(name):
    """A zennit submodule, without zennit/__init__.py (it imports torchvision, for its
    torchvision canonizers, which these tests do not use)."""
    if "zennit" not in sys.modules:
        spec = importlib.util.find_spec("zennit")
        assert spec is not None, "zennit is a test dependency: `make install` installs it"
        sys.modules["zennit"] = importlib.util.module_from_spec(spec)
    return importlib.import_module(f"zennit.{name}")


def exact_merge():
    """zennit's SequentialMergeBatchNorm, with the merged batch norm an exact identity.

    zennit leaves each merged batch norm computing x / sqrt(1 + eps) (running_var 1, its eps
    kept), a 5e-6 (torch's eps) to 5e-4 (Keras') relative change per batch norm; eps is set to
    0 for the merge's duration (after zennit computed the merged weights with it), so the
    canonized network computes the original function.
    """
    canonizers = zennit("canonizers")

    class ExactMerge(canonizers.SequentialMergeBatchNorm):
        def merge_batch_norm(self, modules, batch_norm):
            super().merge_batch_norm(modules, batch_norm)
            self.eps, batch_norm.eps = batch_norm.eps, 0.0

        def remove(self):
            super().remove()
            self.batch_norm.eps = self.eps

    return ExactMerge()


def residual_sum():
    """A zennit canonizer for chronolens' ResidualBlock, as zennit's for torchvision's blocks:
    the addition becomes zennit's Sum layer (which its composites give the Norm rule)."""
    from chronolens.zoo.architectures import ResidualBlock

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(self.canonizer_sum(torch.stack([y, self.shortcut(x)], dim=-1)))

    def attributes(name, module):
        if isinstance(module, ResidualBlock):
            return {"forward": forward.__get__(module), "canonizer_sum": zennit("layer").Sum()}
        return None

    return zennit("canonizers").AttributeCanonizer(attributes)


def zennit_map(model, x, target, composite, **kwargs):
    """zennit's relevance: its composite, its batch-norm merge, one-hot x output."""
    composites = zennit("composites")
    attribution = zennit("attribution")
    inputs = torch.from_numpy(x)
    if composite == "epsilon_gamma_box":
        flat = inputs.reshape(len(x), -1)
        kwargs["low"] = flat.amin(1)[:, None, None].expand_as(inputs)
        kwargs["high"] = flat.amax(1)[:, None, None].expand_as(inputs)
    rules = getattr(composites, COMPOSITES[composite])(
        canonizers=[exact_merge(), residual_sum()], **kwargs
    )
    onehot = torch.eye(model(inputs[:1]).shape[1])[torch.as_tensor(target)]
    with attribution.Gradient(model, rules) as attributor:
        _, relevance = attributor(inputs, lambda output: onehot * output)
    return relevance.numpy()


def _mixed(n_channels=3, n_classes=3):
    """BN on the input (fed by no layer), LeakyReLU, average pooling, an MLP head, dropout."""
    return nn.Sequential(
        nn.BatchNorm1d(n_channels),
        nn.Conv1d(n_channels, 6, 5, padding=2),
        nn.LeakyReLU(0.1),
        nn.AvgPool1d(2),
        nn.Conv1d(6, 6, 3),
        nn.BatchNorm1d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(4),
        nn.Flatten(),
        nn.Linear(24, 8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(8, n_classes),
    )


MODELS = {
    "conv1d_classifier": lambda: zoo.conv1d_classifier(
        3, 40, 3, filters=6, kernel_size=5, pool_size=2, seed=1
    ),
    "fcn": lambda: zoo.fcn(3, 3, filters=(6, 8, 6), kernel_sizes=(5, 3, 3), seed=2),
    "resnet": lambda: zoo.resnet(3, 3, filters=(4, 4), seed=3),
    "mixed": lambda: _randomised(_mixed()),
}


def _randomised(model):
    torch.manual_seed(7)
    return model


def _model(name):
    model = MODELS[name]()
    _randomise_norms(model, torch.Generator().manual_seed(11))
    return model.eval()


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).normal(size=(2, 3, 40)).astype(np.float32)


# Every composite on the three zoo networks; the mixed network (input batch norm, LeakyReLU,
# average pooling, an MLP head) on the composites whose first-layer rules differ most.
CASES = [(name, c) for name in MODELS if name != "mixed" for c in COMPOSITES] + [
    ("mixed", "epsilon_plus_flat"),
    ("mixed", "epsilon_gamma_box"),
]


@pytest.mark.parametrize(("name", "composite"), CASES)
def test_equals_zennit(name, composite, x):
    model = _model(name)
    target = [0, 2]
    before = model_state(model)
    exp = cl.explain(model, x, "lrp", target=target, composite=composite)
    assert_model_unchanged(model, before)
    expected = zennit_map(model, x, target, composite)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-5 * scale)
    assert exp.extras["composite"] == composite


def test_epsilon_value_reaches_the_linear_layers(x):
    model = _model("conv1d_classifier")
    exp = cl.explain(model, x, "lrp", target=1, composite="epsilon_plus", epsilon=0.5)
    expected = zennit_map(model, x, [1, 1], "epsilon_plus", epsilon=0.5)
    np.testing.assert_allclose(
        exp.attributions, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max()
    )


def test_rules_and_merges_are_recorded(x):
    exp = cl.explain(_model("conv1d_classifier"), x, "lrp", composite="epsilon_plus_flat")
    assert exp.extras["rules"] == {
        "conv1": "flat",
        "bn1": "merged into conv1",
        "relu1": "pass",
        "conv2": "zplus",
        "bn2": "merged into conv2",
        "relu2": "pass",
        "fc": "epsilon",
    }
    exp = cl.explain(_model("mixed"), x, "lrp", composite="epsilon_gamma_box")
    assert exp.extras["rules"]["0"] == "pass"  # a batch norm on the input: nothing to merge into
    assert exp.extras["rules"]["1"] == "zbox" and exp.extras["rules"]["4"] == "gamma"
    assert exp.extras["rules"]["5"] == "merged into 4"
    exp = cl.explain(_model("resnet"), x, "lrp")
    assert exp.extras["rules"]["blocks.1.relu (its input, a sum)"] == "norm"


class Residual(nn.Module):
    """relu(conv_b(relu(conv_a(x))) + conv_s(x)), no biases."""

    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv1d(3, 4, 5, padding=2, bias=False)
        self.conv_b = nn.Conv1d(4, 4, 3, padding=1, bias=False)
        self.conv_s = nn.Conv1d(3, 4, 1, bias=False)
        self.relu = nn.ReLU()

    def forward(self, series):
        return self.relu(self.conv_b(self.relu(self.conv_a(series))) + self.conv_s(series))


@pytest.mark.parametrize("composite", ["epsilon_plus", "epsilon_plus_flat"])
def test_bias_free_network_conserves_the_score(composite, x):
    # No biases, no batch norms: epsilon (at 1e-9) and z+ hand on all of the relevance, and so
    # does flat (it has no bias term): the map sums to the score.
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv1d(3, 6, 5, bias=False),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(6, 4, 3, bias=False),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(3),
        nn.Flatten(),
        nn.Linear(12, 3, bias=False),
    ).eval()
    exp = cl.explain(model, x, "lrp", target=2, composite=composite, epsilon=1e-9)
    with torch.no_grad():
        score = model(torch.from_numpy(x))[:, 2].numpy()
    np.testing.assert_allclose(exp.attributions.sum(axis=(1, 2)), score, rtol=1e-4)
    np.testing.assert_allclose(exp.extras["relevance_sum"], score, rtol=1e-4)
    np.testing.assert_allclose(exp.extras["score"], score, rtol=1e-6)


def test_residual_addition_conserves_with_the_sum_rule(x):
    # Positive series and non-negative weights after the first layer: every z+ denominator is
    # the layer's own output, so z+ conserves, and the sum rule splits the relevance at the
    # addition between its two terms (the gradient would hand it whole to both: twice the sum).
    torch.manual_seed(5)
    block = Residual()
    with torch.no_grad():
        block.conv_b.weight.abs_()
        block.conv_s.weight.abs_()
    model = nn.Sequential(block, nn.Flatten(), nn.Linear(160, 3, bias=False)).eval()
    series = np.abs(x)
    exp = cl.explain(model, series, "lrp", target=1, epsilon=1e-9)
    with torch.no_grad():
        score = model(torch.from_numpy(series))[:, 1].numpy()
    np.testing.assert_allclose(exp.extras["relevance_sum"], score, rtol=1e-4)
    assert exp.extras["rules"]["0.relu (its input, a sum)"] == "norm"


def test_linear_model_absorbs_its_bias():
    # score = sum W x + b; epsilon rule: R_i = W_i x_i * score / (score + eps sign): the map is
    # W x up to the stabiliser, its sum score - b (the bias's share).
    model = linear_model(n_channels=2, n_timepoints=10, n_classes=3, seed=5).eval()
    x = np.random.default_rng(5).normal(size=(4, 2, 10)).astype(np.float32)
    exp = cl.explain(model, x, "lrp", target=1, epsilon=1e-9)
    weight = model[1].weight[1].detach().numpy().reshape(2, 10)
    np.testing.assert_allclose(exp.attributions, weight * x, rtol=1e-4, atol=1e-6)
    bias = float(model[1].bias[1].detach())
    np.testing.assert_allclose(
        exp.extras["relevance_sum"], exp.extras["score"] - bias, rtol=1e-4, atol=1e-6
    )


def test_zplus_is_the_literal_loop_on_two_layers():
    # Conv1d over the whole series (a dense layer, z+ as a convolution) -> ReLU -> 1x1 Conv1d.
    torch.manual_seed(4)
    c, t, h, k = 2, 5, 4, 3
    first, second = nn.Conv1d(c, h, t), nn.Conv1d(h, k, 1)
    model = nn.Sequential(first, nn.ReLU(), second, nn.Flatten()).eval()
    x = np.random.default_rng(6).normal(size=(2, c, t)).astype(np.float32)
    exp = cl.explain(model, x, "lrp", target=0, composite="epsilon_plus")
    w1, b1 = first.weight.detach().numpy().astype(float), first.bias.detach().numpy()
    w2, b2 = second.weight.detach().numpy()[:, :, 0].astype(float), second.bias.detach().numpy()
    eps = 1e-6
    for case in range(2):
        xs = x[case].astype(float)
        a = [
            max(0.0, sum(w1[j, i, s] * xs[i, s] for i in range(c) for s in range(t)) + b1[j])
            for j in range(h)
        ]
        score = sum(w2[0, j] * a[j] for j in range(h)) + b2[0]
        relevance_out = [score if m == 0 else 0.0 for m in range(k)]
        r_hidden = [0.0] * h
        for m in range(k):
            z = sum(a[j] * max(w2[m, j], 0) for j in range(h)) + max(b2[m], 0)
            for j in range(h):
                r_hidden[j] += a[j] * max(w2[m, j], 0) / (z + eps) * relevance_out[m]
        expected = np.zeros((c, t))
        for j in range(h):
            parts = {
                (i, s): max(xs[i, s], 0) * max(w1[j, i, s], 0)
                + min(xs[i, s], 0) * min(w1[j, i, s], 0)
                for i in range(c)
                for s in range(t)
            }
            z = sum(parts.values()) + max(b1[j], 0)
            for (i, s), part in parts.items():
                expected[i, s] += part / (z + eps) * r_hidden[j]
        np.testing.assert_allclose(exp.attributions[case], expected, rtol=1e-4, atol=1e-7)


class RaisesUnderRules(nn.Module):
    """Runs the model, then raises when the input carries gradients (the LRP pass)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, series):
        out = self.model(series)
        if series.requires_grad:
            raise RuntimeError("boom")
        return out


def test_model_untouched_when_the_forward_raises(x):
    inner = _model("conv1d_classifier")
    inner.train()
    inner.bn1.eval()
    model = RaisesUnderRules(inner)
    before = model_state(model)
    with pytest.raises(RuntimeError, match="boom"):  # after every layer (and merge) ran
        cl.explain(model, x, "lrp", composite="epsilon_plus")
    assert_model_unchanged(model, before)


def test_refuses_layers_without_a_rule(x):
    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 4, batch_first=True)
            self.fc = nn.Linear(4, 2)

        def forward(self, series):
            return self.fc(self.rnn(series.transpose(1, 2))[0][:, -1])

    model = Recurrent().eval()
    before = model_state(model)
    with pytest.raises(CapabilityError, match=r"'rnn' \(LSTM\).*integrated_gradients"):
        cl.explain(model, x, "lrp")
    assert_model_unchanged(model, before)
    softmax = nn.Sequential(nn.Flatten(), nn.Linear(120, 2), nn.Softmax(dim=1))
    with pytest.raises(CapabilityError, match="'2' \\(Softmax\\).*logits"):
        cl.explain(softmax, x, "lrp")


def test_refuses_a_module_with_weights_of_its_own(x):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.fc = nn.Linear(120, 2)

        def forward(self, series):
            return self.fc(series.flatten(1)) * self.scale

    with pytest.raises(CapabilityError, match="the model itself \\(Scaled\\)"):
        cl.explain(Scaled().eval(), x, "lrp")


def test_bad_parameters_are_named(x):
    model = _model("conv1d_classifier")
    with pytest.raises(ValueError, match="composite"):
        cl.explain(model, x, "lrp", composite="epsilon")
    with pytest.raises(ValueError, match="epsilon_gamma_box"):
        cl.explain(model, x, "lrp", low=-3.0)
    with pytest.raises(ValueError, match="must bound every value"):
        cl.explain(model, x, "lrp", composite="epsilon_gamma_box", low=0.0, high=10.0)
    with pytest.raises(ValueError, match="epsilon"):
        cl.explain(model, x, "lrp", epsilon=0.0)


def test_explicit_bounds_equal_zennit(x):
    model = _model("fcn")
    exp = cl.explain(
        model, x, "lrp", target=0, composite="epsilon_gamma_box", low=-5.0, high=5.0, gamma=0.5
    )
    composites = zennit("composites")
    rules = composites.EpsilonGammaBox(low=-5.0, high=5.0, gamma=0.5, canonizers=[exact_merge()])
    inputs = torch.from_numpy(x)
    with zennit("attribution").Gradient(model, rules) as attributor:
        _, expected = attributor(inputs, lambda output: torch.eye(3)[[0, 0]] * output)
    np.testing.assert_allclose(
        exp.attributions, expected.numpy(), rtol=1e-4, atol=1e-5 * float(expected.abs().max())
    )


def test_keras_on_torch_equals_zennit_on_the_torch_twin():
    # Keras fixes its backend when imported: the Keras twins run in a fresh interpreter.
    pytest.importorskip("keras")
    helper = Path(__file__).with_name("lrp_keras_helper.py")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run(
        [sys.executable, str(helper)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.rstrip().endswith("ok")
