"""batch_size="auto": the activation sizes it needs are measured once per model and structure.

Reference: the number of forward passes the model runs, counted by a forward hook.
"""

import numpy as np
import torch
from torch import nn

import chronolens as cl
from chronolens._batching import LARGEST_TENSOR_BYTES, TOTAL_BYTES, resolve_batch_size
from chronolens.models import adapt
from chronolens.testing import tiny_conv_model


def _counted(model: nn.Module) -> list[int]:
    calls: list[int] = []
    model.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    return calls


def test_sizes_are_measured_once_per_model_and_again_after_an_edit() -> None:
    model = tiny_conv_model(n_channels=3, n_classes=2, seed=0)
    x = np.random.default_rng(0).normal(size=(2, 3, 40)).astype(np.float32)
    calls = _counted(model)
    cl.explain(model, x, "saliency")
    first = len(calls)
    calls.clear()
    cl.explain(model, x, "saliency")
    assert len(calls) == first - 2  # neither the input check nor the zero-series probe again
    cl.explain(model, x[:, :, :30], "saliency")
    assert len(calls) == (first - 2) + first  # a new length is checked and measured
    calls.clear()
    model.conv1 = nn.Conv1d(3, 6, 7, padding=3)  # edited architecture (same call count)
    cl.explain(model, x, "saliency")
    assert len(calls) == first


def test_auto_rows_follow_the_budget_closed_form() -> None:
    model = nn.Sequential(nn.Conv1d(2, 256, 1), nn.Flatten(), nn.Linear(256 * 1000, 2))
    rows = resolve_batch_size("auto", adapt(model), 2, 1000)
    conv_bytes = 256 * 1000 * 4  # Conv1d output of one row, the largest tensor
    total = conv_bytes * 2 + 2 * 4 + 2 * 1000 * 4  # conv + flatten (a view, counted) + head + input
    expected = min(LARGEST_TENSOR_BYTES // conv_bytes, TOTAL_BYTES // total, 1024)
    assert rows == expected
    with torch.no_grad():
        assert model(torch.zeros(rows, 2, 1000)).shape == (rows, 2)
