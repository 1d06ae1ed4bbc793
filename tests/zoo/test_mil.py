"""zoo.mil: MILLET heads checked against literal loops over positions, and the closed forms."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from chronolens import zoo
from chronolens.models import adapt
from chronolens.zoo.mil import PositionalEncoding, positional_encoding

POOLINGS = ["instance", "conjunctive", "additive", "attention"]


def _backbone(n_channels=2, width=6, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(n_channels, width, 5), nn.ReLU())


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def _reference(head, features):
    """Bag logits and per-position contributions by a loop over positions, in float64."""
    f = features.double().numpy()
    n, d, t = f.shape
    w = head.classifier.weight.detach().double().numpy()[:, :, 0]
    b = head.classifier.bias.detach().double().numpy()
    k = w.shape[0]
    if head.pooling != "instance":
        a1 = head.attention_head[0].weight.detach().double().numpy()[:, :, 0]
        b1 = head.attention_head[0].bias.detach().double().numpy()
        a2 = head.attention_head[2].weight.detach().double().numpy()[:, :, 0]
        b2 = head.attention_head[2].bias.detach().double().numpy()
    logits = np.zeros((n, k))
    contributions = np.zeros((n, k, t))
    weights = np.zeros((n, t))
    for i in range(n):
        for p in range(t):
            z = f[i, :, p].copy()
            for j in range(d):  # the closed form of the encoding, written out
                exponent = (j - j % 2) / d
                z[j] += (
                    math.sin(p / 10000**exponent) if j % 2 == 0 else math.cos(p / 10000**exponent)
                )
            if head.pooling == "instance":
                contributions[i, :, p] = w @ z + b
                continue
            a = _sigmoid(float((a2 @ np.tanh(a1 @ z + b1))[0] + b2[0]))
            weights[i, p] = a
            if head.pooling == "conjunctive":
                contributions[i, :, p] = a * (w @ z + b)
            else:
                contributions[i, :, p] = w @ (a * z) + b
        logits[i] = contributions[i].sum(axis=1) / t
    return logits, contributions, weights


def test_positional_encoding_matches_closed_form():
    for d_model in (6, 7):
        pe = positional_encoding(d_model, 11).numpy()
        expected = np.zeros((d_model, 11))
        for j in range(d_model):
            for p in range(11):
                rate = 1.0 / 10000 ** ((j - j % 2) / d_model)
                expected[j, p] = math.sin(p * rate) if j % 2 == 0 else math.cos(p * rate)
        np.testing.assert_allclose(pe, expected, atol=1e-6)
    x = torch.randn(2, 6, 11)
    added = PositionalEncoding(6)(x) - x
    np.testing.assert_allclose(added[1].numpy(), positional_encoding(6, 11).numpy(), atol=1e-6)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_head_matches_a_loop_over_positions(pooling):
    model = zoo.mil(_backbone(), 3, pooling, seed=2).eval()
    x = torch.randn(4, 2, 30)
    logits, contributions, weights = _reference(model.head, model.backbone(x).detach())
    np.testing.assert_allclose(model(x).detach().numpy(), logits, rtol=1e-5, atol=1e-5)
    adapted = adapt(model)
    if pooling != "attention":
        read = adapted.layer_output(x, "head.interpretation").numpy()
        np.testing.assert_allclose(read, contributions, rtol=1e-5, atol=1e-5)
        # exact decomposition: the mean over time of the interpretation is the bag logit
        np.testing.assert_allclose(read.mean(axis=-1), model(x).detach().numpy(), atol=1e-5)
    if pooling != "instance":
        name = "head.attention" if pooling == "conjunctive" else "head.embedding_attention"
        read = adapted.layer_output(x, name).numpy()
        assert read.shape == (4, 1, 26)
        np.testing.assert_allclose(read[:, 0], weights, rtol=1e-5, atol=1e-6)


def test_head_without_positional_encoding_and_dropout_in_training():
    model = zoo.mil(_backbone(), 2, "instance", positional_encoding=False, dropout=0.5, seed=0)
    x = torch.randn(3, 2, 20)
    features = model.backbone(x).detach()
    model.eval()
    w, b = model.head.classifier.weight.detach()[:, :, 0], model.head.classifier.bias.detach()
    expected = (w @ features).mean(-1) + b
    np.testing.assert_allclose(model(x).detach().numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    model.train()
    assert not torch.allclose(model(x), model(x))  # dropout is active in training


def test_replicate_padding_keeps_length_and_pads_by_replication():
    backbone = zoo.fcn(2, 3, filters=(4, 5), kernel_sizes=(8, 3), seed=1)[:-3]
    padded = zoo.replicate_padding(backbone)
    x = torch.randn(2, 2, 25)
    assert padded(x).shape == (2, 5, 25)
    assert backbone[0].padding_mode == "zeros"  # the input module is left as it was
    conv = backbone[0]
    manual = F.conv1d(F.pad(x, (3, 4), mode="replicate"), conv.weight, conv.bias)
    np.testing.assert_allclose(
        padded[0](x).detach().numpy(), manual.detach().numpy(), rtol=1e-5, atol=1e-6
    )
    valid = nn.Sequential(nn.Conv1d(2, 3, 5), nn.ReLU())  # "valid" before, "same" after
    assert zoo.replicate_padding(valid)(x).shape == (2, 3, 25)
    model = zoo.mil(valid, 3, padding="replicate")
    assert model.backbone is not valid and model.backbone[0].padding_mode == "replicate"
    with pytest.raises(ValueError, match="stride 1"):
        zoo.replicate_padding(nn.Conv1d(2, 3, 3, stride=2))


def test_builder_is_seeded_and_leaves_global_random_state():
    first, second = _backbone(), _backbone()
    state = torch.random.get_rng_state()
    a = zoo.mil(first, 3, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())
    b = zoo.mil(second, 3, seed=5)
    for (name, p), q in zip(a.head.named_parameters(), b.head.parameters(), strict=True):
        assert torch.equal(p, q), name


def test_width_is_inferred_and_bad_input_is_named():
    assert zoo.mil(zoo.resnet(2, 3, filters=(4, 7)).blocks, 3).head.classifier.in_channels == 7
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        zoo.mil(_backbone(), 3, "max")
    with pytest.raises(ValueError, match="pass `d_model`"):
        zoo.mil(nn.Identity(), 3)
    with pytest.raises(ValueError, match="`padding`"):
        zoo.mil(_backbone(), 3, padding="same")
    with pytest.raises(TypeError, match="`backbone`"):
        zoo.mil("fcn", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`dropout`"):
        zoo.mil(_backbone(), 3, dropout=1.5)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_trains_with_fit(pooling):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 2, 30)).astype(np.float32)
    y = rng.integers(0, 3, size=24)
    model = zoo.mil(_backbone(), 3, pooling, padding="replicate")
    history = zoo.fit(model, x, y, epochs=2, batch_size=8, progress=False)
    assert len(history["loss"]) == 2 and not model.training
    assert model(torch.from_numpy(x)).shape == (24, 3)


def test_mil_channels_streams_and_bad_input():
    model = zoo.mil_channels(3, 2, filters=(2, 4), kernel_sizes=(5, 3), seed=0).eval()
    assert model.backbone.conv1.groups == 3 and model.backbone.conv1.padding_mode == "replicate"
    x = torch.randn(2, 3, 21)
    assert model.backbone(x).shape == (2, 4, 3, 21)  # (n, d, channel, time) instances
    logits = model(x)
    interpretation = adapt(model).layer_output(x, "head.interpretation")
    assert interpretation.shape == (2, 2, 3, 21)
    np.testing.assert_allclose(interpretation.mean(dim=(2, 3)).numpy(), logits.detach(), atol=1e-5)
    with pytest.raises(ValueError, match="same length"):
        zoo.mil_channels(3, 2, filters=(2, 4), kernel_sizes=(5,))
    with pytest.raises(ValueError, match="`pooling`"):
        zoo.mil_channels(3, 2, "max")
