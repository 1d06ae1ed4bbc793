"""Conformance checks every registered method passes (like scikit-learn's estimator checks)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def model_state(model: nn.Module) -> dict[str, Any]:
    """Snapshot of everything an explanation must not change.

    Parameters and buffers (values), each parameter's ``.grad`` and ``requires_grad``, each
    module's ``training`` flag, and every hook dictionary of every module.
    """
    hooks = {}
    for name, module in model.named_modules():
        hooks[name] = {
            key: dict(value)
            for key, value in vars(module).items()
            if key.endswith("_hooks") and isinstance(value, dict)
        }
    return {
        "parameters": {k: v.detach().clone() for k, v in model.named_parameters()},
        "grads": {
            k: None if v.grad is None else v.grad.detach().clone()
            for k, v in model.named_parameters()
        },
        "requires_grad": {k: v.requires_grad for k, v in model.named_parameters()},
        "buffers": {k: v.detach().clone() for k, v in model.named_buffers()},
        "training": {k: m.training for k, m in model.named_modules()},
        "hooks": hooks,
    }


def assert_model_unchanged(model: nn.Module, before: dict[str, Any]) -> None:
    """Raise AssertionError naming the first thing that differs from the ``before`` snapshot."""
    after = model_state(model)
    for key in ("parameters", "buffers"):
        for name, value in before[key].items():
            if not torch.equal(value, after[key][name]):
                raise AssertionError(f"{key[:-1]} {name!r} changed")
    for name, grad in before["grads"].items():
        other = after["grads"][name]
        if (grad is None) != (other is None) or (grad is not None and not torch.equal(grad, other)):
            raise AssertionError(f".grad of {name!r} changed")
    for key in ("requires_grad", "training", "hooks"):
        if before[key] != after[key]:
            changed = [k for k in before[key] if before[key][k] != after[key].get(k)]
            raise AssertionError(f"{key} changed for {changed}")


def check_method(
    method: str, model: nn.Module, x: np.ndarray, *, atol: float = 1e-5, **params: Any
) -> None:
    """Run the common checks of a registered method on a model and data.

    Checks: the attribution shape and dtype; the model and ``x`` are untouched; the result does
    not depend on ``batch_size``; a single case gives the same map as inside a batch; the
    result is finite; for randomized methods, the seed recorded by a run with ``seed=None``
    reproduces its map bit for bit. The method's ``test_params`` (its registry entry) are used
    unless ``params`` overrides them.

    Raises
    ------
    AssertionError
        Naming the first check that fails.
    """
    from chronolens._explain import explain
    from chronolens.registry import get_method

    spec = get_method(method)
    params = {**spec.test_params, **params}
    params.setdefault("seed", 0)
    x_before = x.copy()
    before = model_state(model)
    full = explain(model, x, method, batch_size=len(x), **params)
    assert_model_unchanged(model, before)
    if not np.array_equal(x, x_before):
        raise AssertionError("x was modified")
    n, c, t = x.shape
    rows = c if spec.per_channel else 1
    if full.attributions.shape != (n, rows, t) or full.attributions.dtype != np.float32:
        raise AssertionError(
            f"attributions {full.attributions.shape} {full.attributions.dtype}, expected "
            f"{(n, rows, t)} float32"
        )
    if not np.isfinite(full.attributions).all():
        raise AssertionError("attributions are not finite")
    small = explain(model, x, method, batch_size=1, **params)
    scale = max(float(np.abs(full.attributions).max()), 1e-12)
    if not np.allclose(small.attributions, full.attributions, atol=atol * scale, rtol=1e-4):
        raise AssertionError("attributions depend on batch_size")
    single = explain(model, x[1:2], method, batch_size=1, **params)
    if not np.allclose(single.attributions, full.attributions[1:2], atol=atol * scale, rtol=1e-4):
        raise AssertionError("a single case differs from the same case inside a batch")
    fresh = explain(model, x, method, **{**params, "seed": None})
    recorded = fresh.params.get("seed")
    if recorded is not None:
        again = explain(model, x, method, **{**params, "seed": recorded})
        if not np.array_equal(again.attributions, fresh.attributions):
            raise AssertionError(f"the recorded seed {recorded} does not reproduce the map")
        if fresh.extras.get("seed") != recorded:
            raise AssertionError("extras['seed'] differs from the recorded seed")
    assert_model_unchanged(model, before)
