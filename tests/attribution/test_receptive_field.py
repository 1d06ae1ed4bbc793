"""Receptive-field alignment of CAM maps: formulas, probing, interpolation."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens import zoo
from chronolens.attribution._receptive_field import (
    _probe,
    interpolation_matrix,
    layer_centers,
    to_input_time,
)
from chronolens.models import TorchModel


def _hand_centres(layers, n_positions):
    """Centre of output j: the middle of the input span it reads, computed layer by layer."""
    centres = np.arange(n_positions, dtype=float)
    for kernel, stride, padding, dilation in reversed(layers):
        # Output position u of this layer reads inputs u*stride - padding ... + dilation*(kernel-1).
        centres = centres * stride - padding + dilation * (kernel - 1) / 2
    return centres


STRIDED = nn.Sequential(
    nn.Conv1d(2, 4, 7, stride=2, dilation=3),  # "valid": no padding
    nn.ReLU(),
    nn.MaxPool1d(3, stride=2, padding=1),
    nn.Conv1d(4, 4, 5, padding=4, dilation=2),
    nn.BatchNorm1d(4),
    nn.AvgPool1d(2),
)
STRIDED_GEOMETRY = [
    (7, 2, 0, 3),
    (1, 1, 0, 1),
    (3, 2, 1, 1),
    (5, 1, 4, 2),
    (1, 1, 0, 1),
    (2, 2, 0, 1),
]


def test_formula_matches_hand_computation():
    model = TorchModel(STRIDED.eval())
    for layer, depth in [("0", 1), ("2", 3), ("5", 6)]:
        n = model.layer_output(torch.zeros(1, 2, 200), layer).shape[-1]
        centres = model.layer_centers(layer, 2, 200)
        np.testing.assert_allclose(centres, _hand_centres(STRIDED_GEOMETRY[:depth], n))


@pytest.mark.parametrize("layer", ["0", "2", "3", "5"])
def test_probing_matches_formula(layer):
    model = TorchModel(STRIDED.eval())
    with model.session():
        probed = _probe(model, layer, 2, 200, batch_size=64)
    np.testing.assert_allclose(probed, model.layer_centers(layer, 2, 200), atol=1e-9)


def test_probing_a_residual_network():
    """A ResNet is not a Sequential chain: its centres are probed.

    torch pads an even kernel of 8 with 3 zeros on the left and 4 on the right, so each block
    moves the centres half a point to the right: j + 1 after two blocks.
    """
    model = zoo.resnet(3, 2, filters=(4, 4), seed=0)
    adapter = TorchModel(model)
    assert adapter.layer_centers("blocks.1", 3, 64) is None
    centres, how = layer_centers(adapter, "blocks.1", 3, 64)
    assert how == "probed"
    np.testing.assert_allclose(centres, np.arange(64) + 1.0, atol=1e-9)


def test_user_architecture_centres():
    model = TorchModel(zoo.conv1d_classifier(9, 300, 4, filters=8))
    centres, how = layer_centers(model, "pool2", 9, 300)
    assert how == "layer hyper-parameters"
    # conv9 -> pool5 -> conv9 -> pool5: jump 25, first receptive field spans inputs 0..72.
    np.testing.assert_allclose(centres, 36 + 25 * np.arange(10))


def test_interpolation_places_values_at_centres_and_holds_edges():
    centres = np.array([3.0, 8.0, 13.0])
    values = torch.tensor([[1.0, 2.0, 0.0]])
    mapped = (values @ interpolation_matrix(centres, 18))[0].numpy()
    np.testing.assert_allclose(mapped[[3, 8, 13]], [1, 2, 0])
    np.testing.assert_allclose(mapped[:4], 1.0)
    np.testing.assert_allclose(mapped[13:], 0.0)
    np.testing.assert_allclose(mapped[5], 1.4)  # two fifths of the way from 1 to 2
    np.testing.assert_allclose(mapped, np.interp(np.arange(18), centres, values[0].numpy()))


@pytest.mark.parametrize("n_positions", [1, 2, 7, 40])
def test_to_input_time_is_linear_interpolation(n_positions):
    # Irregular, increasing centres (some outside the series); np.interp is the reference.
    rng = np.random.default_rng(n_positions)
    centres = np.sort(rng.uniform(-3, 53, n_positions))
    values = torch.from_numpy(rng.normal(size=(3, 2, n_positions)).astype(np.float32))
    mapped = to_input_time(values, centres, 50).numpy()
    times = np.arange(50)
    for row in np.ndindex(3, 2):
        expected = np.interp(times, centres, values[row].numpy())
        np.testing.assert_allclose(mapped[row], expected, rtol=1e-5, atol=1e-6)
    dense = (values @ interpolation_matrix(centres, 50)).numpy()
    np.testing.assert_allclose(mapped, dense, rtol=1e-6, atol=1e-7)


def test_valid_padding_shifts_the_map_unlike_a_resize():
    """One active position of a 'valid' strided layer lands on its receptive field, not j*T/T'."""
    conv = nn.Conv1d(1, 1, 11, stride=5, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    x = np.zeros((1, 1, 61), dtype=np.float32)
    x[0, 0, 20] = 1.0  # read by positions 2 and 3 (inputs 10..20 and 15..25)
    model(torch.from_numpy(x))
    exp = cl.explain(model, x, "grad_cam", layer="1", target=0, relu=False)
    centres = exp.extras["layer_centers"]
    np.testing.assert_allclose(centres, 5 + 5 * np.arange(11))


def test_global_layer_falls_back_to_uniform_with_warning():
    class Mixer(nn.Module):
        def forward(self, x):
            return x + x.mean(dim=-1, keepdim=True)

    model = nn.Sequential(
        nn.Conv1d(1, 2, 3, padding=1),
        Mixer(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(2, 2),
    )
    with pytest.warns(UserWarning, match="mixes all time positions"):
        exp = cl.explain(model, np.ones((1, 1, 30), dtype=np.float32), "grad_cam", layer="1")
    assert exp.extras["alignment"] == "uniform"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cl.explain(model, np.ones((1, 1, 30), dtype=np.float32), "grad_cam", layer="0")
