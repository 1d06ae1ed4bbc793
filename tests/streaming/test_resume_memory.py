"""A killed job resumes losing only the chunks in flight; memory is flat in the number of cases."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

import chronolens as cl
from chronolens.streaming import explain_dataset

RUN = """
import pathlib, sys, time
from chronolens.streaming import _runner, explain_dataset

original = _runner.ChunkTask.run


def run(self, x, start, model=None):  # the fifth chunk (cases 16-19) is killed while in flight
    if start == 16:
        pathlib.Path(sys.argv[4]).touch()
        time.sleep(600)
    return original(self, x, start, model)


_runner.ChunkTask.run = run
explain_dataset(sys.argv[1], sys.argv[2], method="smoothgrad", out=sys.argv[3], chunk_size=4,
                seed=11, n_samples=64, progress=False)
"""


def test_killed_job_resumes_and_writes_every_case_once(tmp_path, model_file, loaded, data):
    import zarr

    path, x = data
    out = tmp_path / "o.zarr"
    in_flight = tmp_path / "in-flight"
    child = subprocess.Popen(
        [sys.executable, "-c", RUN, str(model_file), str(path), str(out), str(in_flight)]
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None and not in_flight.exists():
            time.sleep(0.02)
        assert in_flight.exists(), "the child never reached its fifth chunk"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    group = zarr.open_group(str(out), mode="r")
    first = np.asarray(group["done"][:]).astype(bool)
    assert first.sum() == 4 and first[:4].all()  # four finished, the fifth lost in flight
    job = explain_dataset(
        model_file, path, method="smoothgrad", out=out, chunk_size=4, seed=11, n_samples=64
    )
    runs = np.asarray(job.group["run"][:])
    assert job.complete
    assert (runs[first] == 1).all()  # finished chunks were not written again
    assert (runs[~first] == 2).all()
    for k, seed in enumerate(np.asarray(job.group["seed"][:])):
        part = slice(4 * k, 4 * k + 4)
        ref = cl.explain(
            loaded, x[part], "smoothgrad", seed=int(seed), n_samples=64, progress=False
        )
        np.testing.assert_array_equal(job.group["attributions"][part], ref.attributions)


PEAK = """
import resource, sys
import numpy as np
from chronolens.streaming import explain_dataset
n = int(sys.argv[3])
x = np.lib.format.open_memmap(sys.argv[2], mode="w+", dtype=np.float32, shape=(n, 3, 40))
for i in range(0, n, 5000):
    x[i:i + 5000] = np.random.default_rng(i).normal(size=x[i:i + 5000].shape)
x.flush(); del x
explain_dataset(sys.argv[1], sys.argv[2], method="saliency", out=sys.argv[4], chunk_size=1000,
                progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_kib(model_file, tmp_path, n):
    args = [str(model_file), str(tmp_path / f"x{n}.npy"), str(n), str(tmp_path / f"o{n}.zarr")]
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_peak_memory_is_flat_in_cases(tmp_path, model_file):
    small, large = _peak_kib(model_file, tmp_path, 4_000), _peak_kib(model_file, tmp_path, 40_000)
    assert large <= small * 1.10, (small, large)


def test_import_chronolens_loads_no_engine():
    code = (
        "import sys, chronolens as cl; cl.explain_dataset; "
        "print(sorted(m for m in ('zarr', 'dask', 'ray', 'distributed', 'pyarrow') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr
