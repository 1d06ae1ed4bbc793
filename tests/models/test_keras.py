"""Keras 3 adapter, per backend, each in its own interpreter (Keras fixes its backend at import).

The tests themselves are in ``keras_backend_suite.py`` (parity with PyTorch twins holding the
same weights, model untouched, layer names, errors) and ``keras_files_helper.py`` (saved models
through the command line). This module never imports Keras, so the rest of the suite runs
without it; each backend is skipped when its framework is not installed.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("keras") is None,
    reason="keras is not installed (pip install 'chronolens[keras]')",
)


def installed(module):
    return importlib.util.find_spec(module) is not None


def run(args, tmp_path, backend=None):
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras_home"), "MPLBACKEND": "Agg"}
    env.pop("KERAS_BACKEND", None)
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    output = f"{result.stdout[-6000:]}{result.stderr[-6000:]}"
    assert result.returncode == 0, f"{args} on {backend}:\n{output}"
    return result.stdout


@pytest.mark.parametrize("backend", ["torch", "tensorflow", "jax"])
def test_backend_suite(backend, tmp_path):
    if backend != "torch" and not installed(backend):
        pytest.skip(f"{backend} is not installed")
    suite = str(HERE / "keras_backend_suite.py")
    run(["-m", "pytest", suite, "-p", "no:cacheprovider", "-x"], tmp_path, backend)


def test_twin_suite(tmp_path):
    suite = str(HERE / "keras_twin_suite.py")
    run(["-m", "pytest", suite, "-p", "no:cacheprovider", "-x"], tmp_path, "torch")


def test_model_saved_on_tensorflow_explained_from_the_command_line(tmp_path):
    saver = "tensorflow" if installed("tensorflow") else "torch"
    helper = str(HERE / "keras_files_helper.py")
    run([helper, "save", str(tmp_path)], tmp_path, saver)
    # No KERAS_BACKEND: the command line loads Keras models on the torch backend.
    assert "torch backend" in run([helper, "check", str(tmp_path)], tmp_path)


def test_torch_models_import_no_other_framework(tmp_path):
    code = (
        "import sys, numpy as np, chronolens as cl\n"
        "from chronolens.testing import tiny_conv_model\n"
        "x = np.zeros((2, 3, 40), dtype='float32')\n"
        "cl.explain(tiny_conv_model(), x, 'grad_cam')\n"
        "loaded = [m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    run(["-c", code], tmp_path)
