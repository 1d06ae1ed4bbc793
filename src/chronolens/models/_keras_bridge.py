"""Tensors across the torch / TensorFlow / JAX border, and vector-Jacobian products per backend.

Tensors cross with DLPack (no copy on the same device), falling back to NumPy where a framework
refuses. Only frameworks that are already imported are touched: the Keras backend in use has
imported its own framework, and chronolens never imports another one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Seed = Callable[[torch.Tensor], torch.Tensor]


#: TensorFlow's kernels check that a buffer is aligned to Eigen's 64 bytes and abort the whole
#: process when it is not; a torch slice (rows 10: of an int64 tensor, say) starts mid-storage.
ALIGNMENT = 64


def to_backend(x: torch.Tensor, backend: str) -> Any:
    """Hand a torch tensor to the Keras backend's framework (no copy where DLPack allows).

    A tensor whose data does not start on a 64-byte boundary is copied first (a fresh torch
    allocation is aligned): TensorFlow aborts on misaligned buffers instead of raising.
    """
    x = x.detach().contiguous()
    if backend == "torch":
        return x
    if x.numel() and x.data_ptr() % ALIGNMENT:
        x = x.clone()
    if backend == "tensorflow":
        tf = sys.modules["tensorflow"]
        try:
            return tf.experimental.dlpack.from_dlpack(torch.utils.dlpack.to_dlpack(x))
        except Exception:  # pragma: no cover - a framework build without DLPack
            return tf.convert_to_tensor(x.cpu().numpy())
    if backend == "jax":
        jax = sys.modules["jax"]
        try:
            return jax.dlpack.from_dlpack(x)
        except Exception:  # pragma: no cover
            return jax.numpy.asarray(x.cpu().numpy())
    return x.cpu().numpy()


def to_torch(value: Any, backend: str) -> Any:
    """Return a framework tensor (or a list, tuple or dict of them) as torch tensors."""
    if isinstance(value, (list, tuple)):
        return type(value)(to_torch(v, backend) for v in value)
    if isinstance(value, dict):
        return {key: to_torch(v, backend) for key, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value
    if backend == "tensorflow":
        tf = sys.modules["tensorflow"]
        try:
            return torch.utils.dlpack.from_dlpack(tf.experimental.dlpack.to_dlpack(value))
        except Exception:  # pragma: no cover
            return torch.from_numpy(np.array(value))
    try:
        return torch.from_dlpack(value)
    except Exception:
        return torch.from_numpy(np.array(value))


def score_seed(output: torch.Tensor, select: Seed) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the selected scores and d sum(scores) / d output, computed in torch."""
    leaf = output.detach().float().requires_grad_(True)
    with torch.enable_grad():
        selected = select(leaf)
        (seed,) = torch.autograd.grad(selected.sum(), leaf)
    return selected.detach(), seed


def tensorflow_vjp(
    call: Callable[[Any], Any], x: torch.Tensor, select: Seed, with_activation: bool
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, Any]:
    """Scores, activation, gradient (w.r.t. the activation, else the input) and raw output.

    Computed with ``tf.GradientTape``.

    ``call`` maps the model-layout input to the output, or to ``(activation, output)`` when
    ``with_activation``.
    """
    tf = sys.modules["tensorflow"]
    inputs = to_backend(x, "tensorflow")
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        result = call(inputs)
        activation, output = result if with_activation else (None, result)
    raw = to_torch(output, "tensorflow")
    selected, seed = score_seed(raw, select)
    source = activation if with_activation else inputs
    grad = tape.gradient(output, source, output_gradients=to_backend(seed, "tensorflow"))
    if grad is None:
        raise ValueError(
            "The model output does not depend on the input through differentiable operations, "
            "so TensorFlow returned no gradient. Use a perturbation method instead."
        )
    act = None if activation is None else to_torch(activation, "tensorflow").float()
    raw = raw.detach().float() if isinstance(raw, torch.Tensor) else raw
    return selected, act, to_torch(grad, "tensorflow").float(), raw


def jax_vjp(
    call: Callable[[Any], Any], x: Any, select: Seed
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores, output and gradient of ``call`` at ``x`` (a JAX array or a torch tensor)."""
    jax = sys.modules["jax"]
    inputs = x if not isinstance(x, torch.Tensor) else to_backend(x, "jax")
    output, pullback = jax.vjp(call, inputs)
    out = to_torch(output, "jax")
    selected, seed = score_seed(out, select)
    (grad,) = pullback(to_backend(seed, "jax"))
    return selected, out, to_torch(grad, "jax").float()
