"""Compiled Keras passes, per backend, each in its own interpreter (see ``test_keras.py``)."""

import importlib.util
from pathlib import Path

import pytest
from tests.models.test_keras import installed, run

HERE = Path(__file__).parent

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("keras") is None, reason="keras is not installed"
)


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_compiled_suite(backend, tmp_path):
    if not installed(backend):
        pytest.skip(f"{backend} is not installed")
    suite = str(HERE / "keras_compiled_suite.py")
    run(["-m", "pytest", suite, "-p", "no:cacheprovider", "-x", "-q"], tmp_path, backend)
