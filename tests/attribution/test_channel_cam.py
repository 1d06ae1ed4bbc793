"""channel_grad_cam: planted ground truth and a slow literal re-implementation."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from tests.attribution.planted import CHANNEL, planted_model, planted_series, window_mask
from torch import nn

import chronolens as cl
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


def _hand_model(seed=3):
    """conv1 (kernel 3, 'valid') -> relu1 -> pool (MaxPool 2) -> conv2 (3, pad 1) -> relu2 -> fc.

    Receptive-field centres, by hand, on a series of T = 41 points: relu1 position j sees inputs
    j .. j + 2 (centre j + 1, 39 positions); pool position j takes relu1 positions 2j and 2j + 1,
    so inputs 2j .. 2j + 3 (centre 2j + 1.5, 19 positions). The head reads every position of
    relu2, so the gradient at either layer varies with time and with the series.
    """
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv1d(3, 4, 3),
            relu1=nn.ReLU(),
            pool=nn.MaxPool1d(2),
            conv2=nn.Conv1d(4, 5, 3, padding=1),
            relu2=nn.ReLU(),
            flatten=nn.Flatten(),
            fc=nn.Linear(5 * 19, 3),
        )
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model.eval()


T = 41
HAND_CENTRES = {"relu1": np.arange(39) + 1.0, "pool": 2 * np.arange(19) + 1.5}


def _literal_channel_grad_cam(model, x, target, layer, baseline_value):
    """The docstring's M[c, j] = S(j) - S_c(j), one case and one channel at a time.

    w_k: time average of d score / d A_k at the original series; S(j) = sum_k w_k A_k(j);
    S_c: the same sum, same weights, with channel c replaced by ``baseline_value``.
    Returns the layer-position maps M (n, c, positions) and S (n, positions).
    """
    module = dict(model.named_modules())[layer]
    captured = {}
    handle = module.register_forward_hook(lambda m, i, o: captured.__setitem__("a", o))
    maps, cams = [], []
    try:
        for case in range(len(x)):
            xi = torch.from_numpy(x[case : case + 1])
            score = model(xi)[0, target[case]]
            activation = captured["a"][0]  # (k, positions)
            (grad,) = torch.autograd.grad(score, captured["a"])
            weights = grad[0].mean(dim=-1)  # (k,)
            cam = (weights[:, None] * activation).sum(0).detach()
            rows = []
            for channel in range(x.shape[1]):
                ablated = x[case : case + 1].copy()
                ablated[0, channel] = baseline_value(x[case, channel])
                with torch.no_grad():
                    model(torch.from_numpy(ablated))
                rows.append(cam - (weights[:, None] * captured["a"][0]).sum(0))
            maps.append(torch.stack(rows).numpy())
            cams.append(cam.numpy())
    finally:
        handle.remove()
    return np.stack(maps), np.stack(cams)


def _to_input_time(values, centres, n_timepoints):
    """Linear interpolation between receptive-field centres, held constant past the ends."""
    times = np.arange(n_timepoints)
    return np.apply_along_axis(lambda row: np.interp(times, centres, row), -1, values)


@pytest.mark.parametrize("layer", ["relu1", "pool"])
@pytest.mark.parametrize(
    ("baseline", "value"),
    [
        ("mean", lambda v: v.mean()),
        ("zeros", lambda v: 0.0),
        (0.7, lambda v: 0.7),
    ],
)
def test_matches_a_literal_reimplementation(rng, layer, baseline, value):
    model = _hand_model()
    x = rng.normal(size=(3, 3, T)).astype(np.float32)
    target = [0, 2, 1]
    exp = cl.explain(model, x, "channel_grad_cam", target=target, layer=layer, baseline=baseline)
    layer_map, cam = _literal_channel_grad_cam(model, x, target, layer, value)
    assert np.abs(layer_map).max() > 1e-2  # the channels matter: the comparison is not 0 == 0
    np.testing.assert_allclose(exp.extras["channel_layer_map"], layer_map, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exp.extras["layer_centers"], HAND_CENTRES[layer])
    expected = _to_input_time(layer_map, HAND_CENTRES[layer], T)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-5)
    # The Grad-CAM map itself is kept: ReLU(S), and grad_cam reports the same.
    np.testing.assert_allclose(exp.extras["layer_map"], np.maximum(cam, 0), atol=1e-5)
    gc = cl.explain(model, x, "grad_cam", target=target, layer=layer)
    np.testing.assert_allclose(gc.extras["layer_map"], np.maximum(cam, 0), atol=1e-5)
    # relu=True keeps exactly the positive contributions.
    positive = cl.explain(
        model, x, "channel_grad_cam", target=target, layer=layer, baseline=baseline, relu=True
    )
    assert (layer_map < -1e-3).any()
    np.testing.assert_allclose(
        positive.attributions,
        _to_input_time(np.maximum(layer_map, 0), HAND_CENTRES[layer], T),
        rtol=1e-4,
        atol=1e-5,
    )


def test_matches_a_literal_reimplementation_on_tiny_conv_model(rng):
    """tiny_conv_model (BN, 'same' padding): relu2 centres 2j + 0.5, by hand.

    conv1 (kernel 5, padding 2) keeps centre j; MaxPool 2 takes positions 2j, 2j + 1 (centre
    2j + 0.5); conv2 (kernel 3, padding 1) keeps it.
    """
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=3)
    x = rng.normal(size=(3, 3, 40)).astype(np.float32)
    target = [0, 2, 1]
    exp = cl.explain(model, x, "channel_grad_cam", target=target, layer="relu2")
    layer_map, cam = _literal_channel_grad_cam(model, x, target, "relu2", lambda v: v.mean())
    centres = 2 * np.arange(20) + 0.5
    np.testing.assert_allclose(exp.extras["channel_layer_map"], layer_map, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exp.extras["layer_centers"], centres)
    expected = _to_input_time(layer_map, centres, 40)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exp.extras["layer_map"], np.maximum(cam, 0), atol=1e-5)


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
