"""channel_grad_cam: planted ground truth and a slow literal re-implementation."""

import numpy as np
import pytest
import torch
from tests.methods.planted import CHANNEL, planted_model, planted_series, window_mask

import chronolens as cl
from chronolens.methods._receptive_field import interpolation_matrix
from chronolens.testing import assert_model_unchanged, model_state, tiny_conv_model


def test_planted_bump_gets_the_most_mass():
    model, x = planted_model(), planted_series()
    before = model_state(model)
    exp = cl.explain(model, x, "channel_grad_cam", target=1, layer="relu")
    assert_model_unchanged(model, before)
    assert exp.per_channel and exp.attributions.shape == x.shape
    mass = np.abs(exp.attributions)
    # Channels 0 and 2 are ignored by the model: ablating them leaves the map unchanged.
    np.testing.assert_allclose(mass[:, [0, 2]], 0.0, atol=1e-6)
    assert (mass.sum(axis=2).argmax(axis=1) == CHANNEL).all()
    inside = mass[:, window_mask()].mean(axis=1)
    outside = mass[:, ~window_mask()].mean(axis=1)
    assert (inside > 5 * outside).all()


def _slow_reference(model, x, target, layer, baseline_value):
    """Literal re-implementation: hooks, one channel at a time, one case at a time."""
    module = dict(model.named_modules())[layer]
    out = []
    for case in range(len(x)):
        captured = {}
        handle = module.register_forward_hook(lambda m, i, o, box=captured: box.__setitem__("a", o))
        try:
            xi = torch.from_numpy(x[case : case + 1]).requires_grad_(True)
            score = model(xi)[0, target[case]]
            (grad,) = torch.autograd.grad(score, captured["a"])
            weights = grad.mean(dim=-1)[0]
            cam = (weights[:, None] * captured["a"][0]).sum(0).detach()
            rows = []
            for channel in range(x.shape[1]):
                ablated = x[case : case + 1].copy()
                ablated[0, channel] = baseline_value(ablated[0, channel])
                with torch.no_grad():
                    model(torch.from_numpy(ablated))
                rows.append(cam - (weights[:, None] * captured["a"][0]).sum(0))
        finally:
            handle.remove()
        out.append(torch.stack(rows))
    return torch.stack(out)


@pytest.mark.parametrize(
    ("baseline", "value"), [("mean", lambda v: v.mean()), ("zeros", lambda v: 0.0)]
)
def test_matches_a_literal_reimplementation(rng, baseline, value):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=3)
    x = rng.normal(size=(3, 3, 40)).astype(np.float32)
    target = [0, 2, 1]
    exp = cl.explain(model, x, "channel_grad_cam", target=target, layer="relu2", baseline=baseline)
    layer_map = _slow_reference(model, x, target, "relu2", value)
    np.testing.assert_allclose(exp.extras["channel_layer_map"], layer_map, rtol=1e-4, atol=1e-5)
    matrix = interpolation_matrix(exp.extras["layer_centers"], 40)
    np.testing.assert_allclose(exp.attributions, layer_map @ matrix, rtol=1e-4, atol=1e-5)
    # The Grad-CAM map itself is kept, and equals grad_cam's.
    gc = cl.explain(model, x, "grad_cam", target=target, layer="relu2")
    np.testing.assert_allclose(exp.extras["layer_map"], gc.extras["layer_map"], atol=1e-5)


def test_relu_keeps_positive_contributions(tiny, tiny_x):
    signed = cl.explain(tiny, tiny_x, "channel_grad_cam").attributions
    positive = cl.explain(tiny, tiny_x, "channel_grad_cam", relu=True).attributions
    assert positive.min() >= 0
    assert (signed < 0).any()


def test_bad_arguments(tiny, tiny_x):
    with pytest.raises(ValueError, match="baseline"):
        cl.explain(tiny, tiny_x, "channel_grad_cam", baseline="median")
    with pytest.raises(TypeError, match="relu"):
        cl.explain(tiny, tiny_x, "channel_grad_cam", relu=1)
