"""Every registered method on a CUDA model: the same map as on the CPU, computed on the GPU.

Runs only where CUDA is present (skipped otherwise). The reference is the same method on the
same weights on the CPU; the model must stay on its device, untouched.
"""

import copy

import numpy as np
import pytest
import torch
from tests.test_common import ATTENTION, DIMENSION_WISE, SELF_EXPLAINING

import chronolens as cl
from chronolens.registry import REGISTRY
from chronolens.testing import assert_model_unchanged, model_state, tiny_conv_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")

PLAIN = [m for m in cl.methods().names() if m not in DIMENSION_WISE | SELF_EXPLAINING | ATTENTION]


@pytest.mark.parametrize("method", PLAIN)
def test_cuda_map_equals_the_cpu_map(method):
    cpu = tiny_conv_model(n_channels=3, n_classes=3)
    gpu = copy.deepcopy(cpu).cuda()
    x = np.random.default_rng(0).normal(size=(4, 3, 32)).astype(np.float32)
    params = dict(REGISTRY[method].test_params)
    if REGISTRY[method].randomized:
        params["seed"] = 0
    before = model_state(gpu)
    on_gpu = cl.explain(gpu, x, method, target=1, **params)
    on_cpu = cl.explain(cpu, x, method, target=1, **params)
    assert_model_unchanged(gpu, before)
    assert all(p.is_cuda for p in gpu.parameters())
    scale = max(float(np.abs(on_cpu.attributions).max()), 1e-12)
    np.testing.assert_allclose(on_gpu.attributions, on_cpu.attributions, atol=1e-3 * scale)
