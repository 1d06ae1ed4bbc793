"""One chunk of a dataset job: the model loaded once per process, ``explain()`` on the chunk.

The model travels as a file every worker loads with :func:`chronolens.files.load_model` (a
``torch.export`` archive, TorchScript, ``.keras``), never as a pickle. An in-memory torch module
is exported to a temporary ``.pt2`` for the Dask and Ray engines.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chronolens._validation import MAX_SEED

_LOADED: dict[str, Any] = {}  # "path@device" -> model, once per worker process


def chunk_seed(job_seed: int, start: int) -> int:
    """The seed of the chunk whose first case is ``start`` (from the job seed and case index)."""
    state = np.random.SeedSequence([int(job_seed), int(start)]).generate_state(2, np.uint32)
    return int((int(state[0]) << 32 | int(state[1])) & MAX_SEED)


def fingerprint(model: Any) -> str:
    """A sha256 of the model file, or of an in-memory module's parameters and buffers."""
    digest = hashlib.sha256()
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    state = getattr(model, "state_dict", None)
    if state is None:
        return f"unhashed:{type(model).__name__}"
    for name, tensor in state().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_module(module: Any, n_channels: int, n_timepoints: int) -> Path:
    """Export an in-memory torch module to a temporary ``.pt2`` with a dynamic batch.

    Raises
    ------
    ValueError
        When ``torch.export`` cannot trace it, naming the fix.
    """
    import torch

    example = torch.zeros(2, n_channels, n_timepoints)
    try:
        program = torch.export.export(
            module.eval(), (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},)
        )
    except Exception as error:
        raise ValueError(
            f"`model`: engine 'dask' and 'ray' send the model to workers as a torch.export "
            f"archive, and exporting this module failed ({type(error).__name__}: {error}). Save "
            "it yourself with torch.export.save(...) to a .pt2 file and pass its path, or use "
            "engine='local'."
        ) from None
    path = Path(tempfile.mkdtemp(prefix="chronolens-")) / "model.pt2"
    torch.export.save(program, str(path))
    return path


@dataclass
class ChunkTask:
    """Everything a worker needs to explain one chunk; plain data only."""

    model: Any  # a path (workers) or an in-memory model (local engine)
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    target: Any = None
    layer: Any = None
    batch_size: int | str = "auto"
    seed: int | None = None
    threads: int | None = None
    device: str | None = None  # workers move the loaded model there (``_device.moved``)

    def loaded(self) -> Any:
        """The adapted model, loaded once per process for a path."""
        from chronolens.files import load_model
        from chronolens.models import adapt

        if not isinstance(self.model, (str, os.PathLike)):
            return adapt(self.model)
        key = f"{self.model}@{self.device}"
        if key not in _LOADED:
            if self.threads is not None:
                import torch

                torch.set_num_threads(self.threads)
            from chronolens.streaming._device import moved

            _LOADED[key] = adapt(moved(load_model(str(self.model)), self.device))
        return _LOADED[key]

    def run(
        self, x: np.ndarray, start: int, model: Any = None
    ) -> tuple[dict[str, np.ndarray], int]:
        """Explain cases ``start:start+len(x)``; return the arrays to store and the chunk's seed."""
        from chronolens._explain import explain

        seed = chunk_seed(self.seed, start) if self.seed is not None else 0
        target = self.target
        if target is not None and np.ndim(target) == 1:
            target = np.asarray(target)[start : start + len(x)].tolist()
        exp = explain(
            model if model is not None else self.loaded(),
            x,
            self.method,
            target=target,
            layer=self.layer,
            seed=seed if self.seed is not None else None,
            batch_size=self.batch_size,
            progress=False,
            **self.params,
        )
        targets = exp.target if exp.target is not None else np.full(len(x), -1)
        arrays: dict[str, np.ndarray] = {
            "attributions": exp.attributions.astype(np.float32, copy=False),
            "scores": exp.scores.astype(np.float32, copy=False),
            "target": np.asarray(targets, dtype=np.int64),
        }
        return arrays, seed
