"""CAM family: Captum's LayerGradCam, closed forms, and literal re-implementations of the papers."""

import numpy as np
import pytest
import torch
from captum.attr import LayerGradCam

import chronolens as cl


def _layer_tensors(model, layer, x, target):
    """Activation and gradient of the layer, the slow and obvious way."""
    store = {}
    handle = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    inputs = torch.from_numpy(x)
    out = model(inputs)
    handle.remove()
    activation = store["a"]
    (grad,) = torch.autograd.grad(
        out[torch.arange(len(x)), torch.as_tensor(target)].sum(), activation
    )
    return activation.detach().numpy(), grad.numpy()


def test_grad_cam_matches_captum_on_layer_axis(user_model, user_x):
    exp = cl.explain(user_model, user_x, "grad_cam", layer="relu2")
    expected = LayerGradCam(user_model, user_model.relu2).attribute(
        torch.from_numpy(user_x), target=torch.as_tensor(exp.target), relu_attributions=True
    )
    np.testing.assert_allclose(
        exp.extras["layer_map"], expected[:, 0].detach().numpy(), rtol=1e-4, atol=1e-7
    )
    assert exp.extras["layer"] == "relu2" and exp.params["layer"] == "relu2"
    assert exp.attributions.shape == (6, 1, 300) and not exp.per_channel


def test_grad_cam_without_relu_matches_captum(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "grad_cam", layer=tiny.conv2, relu=False)
    expected = LayerGradCam(tiny, tiny.conv2).attribute(
        torch.from_numpy(tiny_x), target=torch.as_tensor(exp.target)
    )
    np.testing.assert_allclose(
        exp.extras["layer_map"], expected[:, 0].detach().numpy(), rtol=1e-4, atol=1e-7
    )


def test_default_layer_is_last_with_time_axis(user_model, user_x, tiny, tiny_x):
    assert cl.explain(user_model, user_x, "grad_cam").extras["layer"] == "pool2"
    assert cl.explain(tiny, tiny_x, "grad_cam").extras["layer"] == "relu2"


def test_cam_is_class_weights_times_activation(gap, rng):
    x = rng.normal(size=(4, 3, 30)).astype(np.float32)
    exp = cl.explain(gap, x, "cam", target=[0, 1, 2, 0])
    activation, _ = _layer_tensors(gap, gap.relu, x, [0, 1, 2, 0])
    weight = gap.fc.weight.detach().numpy()
    expected = np.einsum("nf,nft->nt", weight[[0, 1, 2, 0]], activation)
    np.testing.assert_allclose(exp.extras["layer_map"], expected, rtol=1e-4, atol=1e-6)
    # 'same' padding: positions sit on input time points, so no interpolation happens.
    np.testing.assert_allclose(exp.attributions[:, 0], expected, rtol=1e-4, atol=1e-6)
    # The map's mean plus the class bias is the class score.
    bias = gap.fc.bias.detach().numpy()[[0, 1, 2, 0]]
    np.testing.assert_allclose(
        expected.mean(1) + bias, exp.scores[np.arange(4), [0, 1, 2, 0]], rtol=1e-4, atol=1e-5
    )


def test_cam_and_grad_cam_agree_up_to_positive_factor_on_gap_network(gap, rng):
    x = rng.normal(size=(4, 3, 30)).astype(np.float32)
    cam = cl.explain(gap, x, "cam").attributions
    grad_cam = cl.explain(gap, x, "grad_cam").attributions
    np.testing.assert_allclose(np.maximum(cam, 0) / 30, grad_cam, rtol=1e-4, atol=1e-7)


def test_cam_refuses_a_head_that_is_not_gap_linear(user_model, user_x, gap, rng):
    with pytest.raises(ValueError, match="global average pooling"):
        cl.explain(user_model, user_x, "cam")
    probabilities = torch.nn.Sequential(gap, torch.nn.Softmax(dim=1))
    with pytest.raises(ValueError, match="depends on the input"):
        cl.explain(
            probabilities, rng.normal(size=(3, 3, 30)).astype(np.float32), "cam", layer="0.relu"
        )


def test_grad_cam_pp_literal(tiny, tiny_x):
    """Chattopadhay et al. (2018), eq. 19, written with loops over filters and positions."""
    exp = cl.explain(tiny, tiny_x, "grad_cam_pp", layer="conv2")
    a, g = _layer_tensors(tiny, tiny.conv2, tiny_x, exp.target)
    expected = np.zeros(a.shape[::2])
    for n in range(a.shape[0]):
        total = np.zeros(a.shape[2])
        for k in range(a.shape[1]):
            weight = 0.0
            for t in range(a.shape[2]):
                denominator = 2 * g[n, k, t] ** 2 + a[n, k].sum() * g[n, k, t] ** 3
                alpha = g[n, k, t] ** 2 / denominator if denominator != 0 else 0.0
                weight += alpha * max(g[n, k, t], 0.0)
            total += weight * a[n, k]
        expected[n] = np.maximum(total, 0)
    np.testing.assert_allclose(exp.extras["layer_map"], expected, rtol=1e-3, atol=1e-6)


def test_layer_cam_literal(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "layer_cam", layer="relu1")
    a, g = _layer_tensors(tiny, tiny.relu1, tiny_x, exp.target)
    expected = np.maximum((np.maximum(g, 0) * a).sum(1), 0)
    np.testing.assert_allclose(exp.extras["layer_map"], expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("batch_size", ["auto", 3, 17])  # blocks of 1 case, then several
def test_score_cam_literal(tiny, tiny_x, batch_size):
    """Wang et al. (2020), algorithm 1: mask by each upsampled, normalised filter, softmax score."""
    exp = cl.explain(tiny, tiny_x, "score_cam", layer="conv2", batch_size=batch_size)
    a, _ = _layer_tensors(tiny, tiny.conv2, tiny_x, exp.target)
    # Receptive-field centres by hand: conv1 (kernel 5, padding 2) keeps j, MaxPool 2 gives
    # 2j + 0.5, conv2 (kernel 3, padding 1) keeps it.
    centres = 2 * np.arange(a.shape[2]) + 0.5
    np.testing.assert_allclose(exp.extras["layer_centers"], centres)
    times = np.arange(tiny_x.shape[2])
    expected = np.zeros(a.shape[::2])
    with torch.no_grad():
        for n in range(len(tiny_x)):
            weights = []
            for k in range(a.shape[1]):
                up = np.interp(times, centres, a[n, k])
                span = up.max() - up.min()
                mask = (up - up.min()) / span if span > 0 else np.zeros_like(up)
                masked = torch.from_numpy((tiny_x[n] * mask).astype(np.float32))[None]
                weights.append(torch.softmax(tiny(masked), 1)[0, exp.target[n]].item())
            expected[n] = np.maximum(np.tensordot(weights, a[n], axes=1), 0)
    np.testing.assert_allclose(exp.extras["layer_map"], expected, rtol=1e-4, atol=1e-6)


def test_cam_methods_localise_a_planted_event():
    """A model that only responds to a bump in [60, 80) gets its CAM mass there."""
    conv = torch.nn.Conv1d(1, 1, 5, padding=2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(0.2)
    model = torch.nn.Sequential(
        conv,
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(1, 2),
    )
    with torch.no_grad():
        model[4].weight.copy_(torch.tensor([[-1.0], [1.0]]))
    x = np.zeros((1, 1, 120), dtype=np.float32)
    x[0, 0, 60:80] = 1.0
    for method in ["cam", "grad_cam", "grad_cam_pp", "layer_cam", "score_cam"]:
        m = cl.explain(model, x, method, target=1).attributions[0, 0]
        assert m[58:82].sum() >= 0.99 * m.sum(), method


def test_default_layer_skips_modules_called_twice():
    """The zoo ResNet reuses one ReLU per block; the block itself is the default layer."""
    from chronolens import zoo

    model = zoo.resnet(3, 2, filters=(4, 4), seed=0).eval()
    x = np.random.default_rng(0).normal(size=(2, 3, 32)).astype(np.float32)
    exp = cl.explain(model, x, "grad_cam")
    assert exp.extras["layer"] == "blocks.1"
    assert exp.extras["alignment"] == "probed"
