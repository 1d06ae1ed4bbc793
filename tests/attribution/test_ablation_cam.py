"""Ablation-CAM against a literal re-implementation of its definition.

The reference zeroes one filter at a time with its own forward hook on the torch module (not
chronolens'), runs the whole network once per case and filter, and forms pytorch-grad-cam's
weights ``(y - y_k) / y`` and ``ReLU(sum_k w_k A_k)`` in plain loops.
"""

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens.testing import assert_model_unchanged, model_state


def _conv_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(3, 5, 5, padding=2),
        nn.ReLU(),
        nn.Conv1d(5, 4, 3, padding=1),
        nn.Tanh(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).eval()


def _reference(model: nn.Module, layer: nn.Module, x: np.ndarray, target: int, mode: str):
    seen: dict = {}
    handle = layer.register_forward_hook(lambda m, a, out: seen.setdefault("a", out.clone()))
    with torch.no_grad():
        scores = model(torch.from_numpy(x))[:, target].double().numpy()
    handle.remove()
    a = seen["a"].double().numpy()
    n, k_filters, _ = a.shape
    layer_map = np.zeros((n, a.shape[2]))
    for i in range(n):
        low = a[i].min()
        value = 0.0 if mode == "zero" or low == 0 else low - 1e7
        for k in range(k_filters):

            def zero(m, inputs, out, k=k, value=value):
                out = out.clone()
                out[:, k, :] = value
                return out

            hook = layer.register_forward_hook(zero)
            with torch.no_grad():
                ablated = float(model(torch.from_numpy(x[i : i + 1]))[0, target])
            hook.remove()
            weight = (scores[i] - ablated) / scores[i]
            layer_map[i] += weight * a[i, k]
    return np.maximum(layer_map, 0)


@pytest.mark.parametrize("mode", ["zero", "min"])
def test_ablation_cam_is_the_literal_definition(mode):
    model, x = _conv_net(), np.random.default_rng(0).normal(size=(3, 3, 30)).astype(np.float32)
    before = model_state(model)
    # Layer "3" is a tanh: negative activations, where the two ablation rules differ.
    exp = cl.explain(model, x, "ablation_cam", layer="3", target=2, ablation=mode, batch_size=3)
    expected = _reference(model, model[3], x, 2, mode)
    np.testing.assert_allclose(exp.extras["layer_map"], expected, rtol=1e-4, atol=1e-6)
    assert_model_unchanged(model, before)


def test_a_filter_the_head_ignores_gets_zero_weight():
    model, x = _conv_net(1), np.random.default_rng(1).normal(size=(2, 3, 30)).astype(np.float32)
    with torch.no_grad():
        model[6].weight[:, 1] = 0.0  # the head never reads filter 1 of layer "3"
    exp = cl.explain(model, x, "ablation_cam", layer="3", target=0)
    np.testing.assert_allclose(exp.extras["filter_weights"][:, 1], 0.0, atol=1e-6)


def test_an_unknown_ablation_rule_is_refused_by_name():
    model, x = _conv_net(), np.zeros((1, 3, 30), dtype=np.float32)
    with pytest.raises(ValueError, match="ablation"):
        cl.explain(model, x, "ablation_cam", ablation="mean")
