"""What a `.keras` file costs on the command line, above Keras' own import.

Times, in fresh interpreters (median of ``--repeats`` runs each):

- ``python -c "import keras"`` on the torch backend: the floor any Keras call pays;
- ``chronolens explain model.keras x.npy --layout nlc --method grad_cam``: a whole successful
  call (import, load, explain, write the map and its figure);
- the same call with an unknown method: answered before Keras is imported.

Run: ``python benchmarks/cli_startup.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHRONOLENS = str(Path(sys.executable).with_name("chronolens"))
OK = "model.keras x.npy --layout nlc --method grad_cam --out map.npz"
BAD = "model.keras x.npy --method nope"


def timed(args: list[str], cwd: str, env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - start, result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    env = {**os.environ, "KERAS_BACKEND": "torch", "MPLBACKEND": "Agg"}
    with tempfile.TemporaryDirectory() as folder:
        build = (
            "import keras, numpy as np\n"
            "m = keras.Sequential([keras.Input((300, 9)), keras.layers.Conv1D(128, 9),"
            " keras.layers.BatchNormalization(), keras.layers.Activation('relu'),"
            " keras.layers.MaxPooling1D(5), keras.layers.Flatten(), keras.layers.Dense(4)])\n"
            "m.save('model.keras')\n"
            "np.save('x.npy', np.random.default_rng(0).normal(size=(8, 300, 9)).astype('f4'))\n"
        )
        subprocess.run([sys.executable, "-c", build], cwd=folder, env=env, check=True)
        calls = {
            "import keras": [sys.executable, "-c", "import keras"],
            "chronolens explain (ok)": [CHRONOLENS, "explain", *OK.split()],
            "chronolens explain (bad --method)": [CHRONOLENS, "explain", *BAD.split()],
        }
        medians = {}
        for label, args in calls.items():
            runs = [timed(args, folder, env) for _ in range(repeats)]
            medians[label] = statistics.median(seconds for seconds, _ in runs)
            codes = sorted({code for _, code in runs})
            print(f"{label:<36} {medians[label]:6.2f} s  (exit {codes}, {repeats} runs)")
    above = medians["chronolens explain (ok)"] - medians["import keras"]
    print(f"a successful call above Keras' import: {above:+.2f} s (target: under 5 s)")


if __name__ == "__main__":
    main()
