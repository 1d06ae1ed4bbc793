"""Where the workers of a dataset job run the model: the job's ``device``.

Workers load the model file themselves, onto the CPU; ``device`` moves it (and so every batch,
which follows the model's parameters) to a GPU. On Ray a cluster that has GPUs gets one GPU per
actor by default, the standard batch-inference pattern; Ray hands each actor its own GPU, which
the actor sees as ``cuda:0``. The local engine runs the model where the caller put it.
"""

from __future__ import annotations

import re
from typing import Any


def check_device(device: Any, engine: str) -> str | None:
    """``device`` checked for ``engine`` (None: the workers' default)."""
    if device is None:
        return None
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise ValueError(
            f"`device`={device!r} is not a device name; use 'cpu', 'cuda' or 'cuda:N', or "
            "leave it None."
        )
    if engine == "local":
        raise ValueError(
            f"`device`={device!r}: engine='local' runs the model where its parameters are; move "
            "it with model.to(...) before the call, or use engine='dask' or 'ray', whose workers "
            "load the model file onto `device`."
        )
    return device


def ray_placement(device: str | None, cluster_gpus: float, n_workers: int) -> tuple[Any, ...]:
    """``(device, GPUs per actor, actors)`` for a Ray cluster with ``cluster_gpus`` GPUs."""
    if device is None:
        device = "cuda" if cluster_gpus >= 1 else None
    if device is None or device == "cpu":
        return device, 0.0, n_workers
    if cluster_gpus < 1:
        raise ValueError(
            f"`device`={device!r}, but the Ray cluster has no GPUs (ray.cluster_resources() "
            "lists none); use device='cpu' or None, or connect to a cluster with GPUs."
        )
    return "cuda", 1.0, max(1, min(n_workers, int(cluster_gpus)))


def moved(module: Any, device: str | None) -> Any:
    """A model a worker loaded, on ``device`` (a clear error where that device is missing)."""
    if device is None or device == "cpu":
        return module
    import torch

    from chronolens.models._keras_base import is_keras_model

    if is_keras_model(module) or not isinstance(module, torch.nn.Module):
        raise ValueError(
            f"`device`={device!r} moves PyTorch models; Keras places its model itself "
            "(leave `device` None for a .keras file)."
        )
    if not torch.cuda.is_available():
        raise ValueError(
            f"`device`={device!r}, but torch on this worker sees no CUDA device; use "
            "device='cpu' or None, or run the workers on machines with GPUs."
        )
    return module.to(device)
