import numpy as np
import pytest
import torch

from chronolens import zoo
from chronolens.testing import gap_model, linear_model, tiny_conv_model
from chronolens.testing.models import _randomise_norms

torch.set_num_threads(2)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def tiny():
    return tiny_conv_model(n_channels=3, n_classes=3, seed=1)


@pytest.fixture
def tiny_x(rng):
    return rng.normal(size=(5, 3, 40)).astype(np.float32)


@pytest.fixture
def linear():
    return linear_model(n_channels=3, n_timepoints=20, n_classes=3, seed=2)


@pytest.fixture
def linear_x(rng):
    return rng.normal(size=(4, 3, 20)).astype(np.float32)


@pytest.fixture
def gap():
    return gap_model(n_channels=3, n_classes=3, seed=3)


@pytest.fixture(scope="session")
def user_model():
    """The user's architecture (9 x 300, Conv1d 128/k9 -> BN -> ReLU -> MaxPool 5, twice)."""
    model = zoo.conv1d_classifier(9, 300, 4, seed=0)
    _randomise_norms(model, torch.Generator().manual_seed(5))
    return model.eval()


@pytest.fixture(scope="session")
def user_x():
    return np.random.default_rng(1).normal(size=(6, 9, 300)).astype(np.float32)
