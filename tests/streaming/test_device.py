"""Where dataset workers run the model (``device``), decided before any worker starts.

References: the rule written as a table of planted clusters (GPUs available, device asked) and
the outcome a user should get; PyTorch's own ``torch.cuda.is_available()``.
"""

import numpy as np
import pytest
import torch

from chronolens.cli import main
from chronolens.streaming._device import check_device, moved, ray_placement
from chronolens.testing import tiny_conv_model


@pytest.mark.parametrize(
    ("device", "gpus", "workers", "expected"),
    [
        (None, 0, 2, (None, 0.0, 2)),  # a CPU cluster: actors on the CPU
        (None, 4, 2, ("cuda", 1.0, 2)),  # GPUs: one per actor, by default
        (None, 1, 3, ("cuda", 1.0, 1)),  # never more GPU actors than GPUs (they would wait)
        ("cpu", 4, 2, ("cpu", 0.0, 2)),  # asked for the CPU: no GPU reserved
        ("cuda:1", 2, 2, ("cuda", 1.0, 2)),  # Ray hands each actor its own GPU as cuda:0
    ],
)
def test_ray_placement(device, gpus, workers, expected):
    assert ray_placement(device, gpus, workers) == expected


def test_bad_devices_are_refused_in_the_users_terms():
    with pytest.raises(ValueError, match="the Ray cluster has no GPUs"):
        ray_placement("cuda", 0, 2)
    with pytest.raises(ValueError, match=r"`device`='gpu' is not a device name; use 'cpu'"):
        check_device("gpu", "ray")
    with pytest.raises(ValueError, match=r"engine='local' runs the model where its parameters"):
        check_device("cuda", "local")
    assert check_device(None, "local") is None and check_device("cuda:0", "dask") == "cuda:0"


def test_a_worker_without_cuda_says_so():
    model = tiny_conv_model()
    assert moved(model, "cpu") is model and moved(model, None) is model
    if torch.cuda.is_available():
        assert next(moved(model, "cuda").parameters()).is_cuda
    else:
        with pytest.raises(ValueError, match="torch on this worker sees no CUDA device"):
            moved(model, "cuda")


def test_the_command_line_names_the_flag(tmp_path, capsys):
    model = tiny_conv_model()
    program = torch.export.export(model, (torch.zeros(2, 3, 40),))
    torch.export.save(program, str(tmp_path / "m.pt2"))
    np.save(tmp_path / "x.npy", np.zeros((4, 3, 40), np.float32))
    args = ["explain", str(tmp_path / "m.pt2"), str(tmp_path / "x.npy"), "--method", "saliency"]
    assert main([*args, "--out", str(tmp_path / "a.zarr"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device" in err and "--engine local" in err
