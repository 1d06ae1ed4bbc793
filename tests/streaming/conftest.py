import numpy as np
import pytest

from chronolens.files import load_model
from chronolens.streaming._runner import export_module
from chronolens.testing import tiny_conv_model


@pytest.fixture(scope="package")
def model_file(tmp_path_factory):
    """A tiny CNN as a torch.export archive with a dynamic batch (what workers load)."""
    return export_module(tiny_conv_model(n_channels=3, n_classes=3, seed=1), 3, 40)


@pytest.fixture(scope="package")
def loaded(model_file):
    return load_model(model_file)


@pytest.fixture(scope="package")
def data(tmp_path_factory):
    """60 cases (3, 40) saved as .npy; returns (path, array)."""
    x = np.random.default_rng(0).normal(size=(60, 3, 40)).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "x.npy"
    np.save(path, x)
    return path, x
