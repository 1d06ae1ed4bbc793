"""XGrad-CAM, HiRes-CAM and Eigen-CAM against closed forms and literal re-implementations.

The references read the layer with their own forward hook and autograd call (not chronolens'),
then loop over cases, filters and positions as pytorch-grad-cam's definitions read.
"""

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl


def _conv_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(3, 5, 5, padding=2),
        nn.ReLU(),
        nn.Conv1d(5, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).eval()


def _layer_and_grad(model: nn.Module, layer: nn.Module, x: np.ndarray, target: int):
    seen = {}
    handle = layer.register_forward_hook(lambda m, a, out: seen.setdefault("a", out))
    try:
        out = model(torch.from_numpy(x))
        (grad,) = torch.autograd.grad(out[:, target].sum(), seen["a"])
    finally:
        handle.remove()
    return seen["a"].detach().double().numpy(), grad.double().numpy()


def test_xgrad_cam_is_the_literal_definition():
    model, x = _conv_net(), np.random.default_rng(0).normal(size=(3, 3, 30)).astype(np.float32)
    exp = cl.explain(model, x, "xgrad_cam", layer="3", target=2)
    a, g = _layer_and_grad(model, model[3], x, 2)
    expected = np.zeros((3, 30))
    for i in range(3):
        for k in range(a.shape[1]):
            weight = sum(g[i, k, t] * a[i, k, t] for t in range(30)) / (a[i, k].sum() + 1e-7)
            expected[i] += weight * a[i, k]
    np.testing.assert_allclose(
        exp.extras["layer_map"], np.maximum(expected, 0), rtol=1e-4, atol=1e-6
    )


def test_hires_cam_is_each_positions_share_of_a_linear_head():
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 20, 2)
    ).eval()
    x = np.random.default_rng(1).normal(size=(4, 2, 20)).astype(np.float32)
    exp = cl.explain(model, x, "hires_cam", layer="1", target=1)
    with torch.no_grad():
        a = model[1](model[0](torch.from_numpy(x))).double().numpy()
    weight = model[3].weight[1].detach().double().numpy().reshape(4, 20)
    # score = sum_k,t W_k(t) A_k(t) + b and G = W: the map is ReLU(sum_k W_k(t) A_k(t)).
    expected = np.maximum((weight[None] * a).sum(axis=1), 0)
    np.testing.assert_allclose(exp.extras["layer_map"], expected, rtol=1e-5, atol=1e-7)


def test_eigen_cam_closed_form_on_a_rank_one_layer():
    # A 1x1 convolution with positive weights v and no bias: A_k(t) = v_k x(t), a rank-one
    # matrix; its first principal axis is v / |v| and the projection |v| (x(t) - mean x).
    v = np.array([0.5, 1.0, 2.0, 0.25])
    conv = nn.Conv1d(1, 4, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(v, dtype=torch.float32)[:, None, None])
    model = nn.Sequential(conv, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    x = np.random.default_rng(2).normal(size=(3, 1, 25)).astype(np.float32)
    exp = cl.explain(model, x, "eigen_cam", layer="0")
    centred = x[:, 0] - x[:, 0].mean(axis=1, keepdims=True)
    expected = np.maximum(np.linalg.norm(v) * centred, 0)
    np.testing.assert_allclose(exp.extras["layer_map"], expected, rtol=1e-4, atol=1e-5)


def test_eigen_cam_is_a_literal_svd_and_ignores_the_target():
    model, x = _conv_net(3), np.random.default_rng(3).normal(size=(2, 3, 30)).astype(np.float32)
    first = cl.explain(model, x, "eigen_cam", layer="3", target=0)
    other = cl.explain(model, x, "eigen_cam", layer="3", target=2)
    np.testing.assert_array_equal(first.attributions, other.attributions)
    a, _ = _layer_and_grad(model, model[3], x, 0)
    for i in range(2):
        samples = a[i].T - a[i].T.mean(axis=0)
        _, _, vt = np.linalg.svd(samples, full_matrices=False)
        projection = samples @ vt[0]
        total = a[i].sum(axis=0)
        if ((total - total.mean()) * projection).sum() < 0:
            projection = -projection
        np.testing.assert_allclose(
            first.extras["layer_map"][i], np.maximum(projection, 0), rtol=1e-4, atol=1e-6
        )


@pytest.mark.parametrize("method", ["xgrad_cam", "hires_cam", "eigen_cam"])
def test_maps_are_in_input_time_like_grad_cam(method):
    model, x = _conv_net(), np.random.default_rng(4).normal(size=(2, 3, 30)).astype(np.float32)
    exp = cl.explain(model, x, method, layer="3")
    reference = cl.explain(model, x, "grad_cam", layer="3")
    assert exp.attributions.shape == (2, 1, 30)
    np.testing.assert_array_equal(exp.extras["layer_centers"], reference.extras["layer_centers"])
