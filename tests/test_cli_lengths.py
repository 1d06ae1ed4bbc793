"""Unequal-length series on the command line: --lengths-key and --pad-value.

Reference: chronolens.explain / evaluate called in Python on the literal list of cases.
"""

import numpy as np
import pytest
import torch

import chronolens as cl
from chronolens.cli import main
from chronolens.metrics import evaluate
from chronolens.testing import tiny_conv_model

LENGTHS = np.array([20, 33, 20, 40, 27])


@pytest.fixture
def stored(tmp_path):
    model = tiny_conv_model(n_channels=3, n_classes=2, seed=3)
    torch.jit.script(model).save(str(tmp_path / "model.pt"))  # any length
    rng = np.random.default_rng(5)
    cases = [rng.normal(size=(3, t)).astype(np.float32) for t in LENGTHS]
    padded = np.zeros((len(cases), 3, LENGTHS.max()), np.float32)
    for i, case in enumerate(cases):
        padded[i, :, : case.shape[1]] = case
    mask = np.zeros(padded.shape, bool)
    mask[:, 1, 4:12] = True
    np.savez(tmp_path / "cases.npz", x=padded, lengths=LENGTHS, mask=mask)
    np.savez(tmp_path / "mask.npz", mask=mask)
    return model, cases, mask, tmp_path


def _explain(folder, *extra):
    args = [str(folder / "model.pt"), str(folder / "cases.npz"), "--key", "x"]
    return main(["explain", *args, "--method", "saliency", "--quiet", *extra])


@pytest.mark.parametrize("pad_value", [None, 0.5])
def test_explain_cuts_each_case_to_its_length(stored, pad_value):
    model, cases, _, folder = stored
    extra = ["--lengths-key", "lengths", "--out", str(folder / "e.npz")]
    if pad_value is not None:
        extra += ["--pad-value", str(pad_value)]
    assert _explain(folder, *extra) == 0
    got = cl.Explanation.load(folder / "e.npz")
    expected = cl.explain(model, cases, "saliency", pad_value=pad_value)
    np.testing.assert_array_equal(got.lengths, LENGTHS)
    np.testing.assert_allclose(got.attributions, expected.attributions, rtol=1e-5, atol=1e-7)
    assert np.isnan(got.attributions[0, :, 20:]).all()
    assert (got.x[0, :, 20:] == (pad_value or 0.0)).all()


def test_evaluate_cuts_the_mask_with_the_same_lengths(stored, capsys):
    model, cases, mask, folder = stored
    args = [str(folder / "model.pt"), str(folder / "cases.npz"), "--key", "x"]
    args += ["--mask", str(folder / "mask.npz"), "--lengths-key", "lengths"]
    code = main(["evaluate", *args, "--methods", "saliency", "--n-steps", "5", "--no-sanity"])
    out = capsys.readouterr().out
    assert code == 0, out
    masks = [m[:, :t] for m, t in zip(mask, LENGTHS)]
    expected = evaluate(model, cases, ["saliency"], mask=masks, n_steps=5, sanity=False).rows[0]
    row = next(line for line in out.splitlines() if line.startswith("saliency"))
    assert f"{expected.average_precision:.3f}" in row


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pad-value", "0"], "--pad-value is for unequal-length data"),
        (["--lengths-key", "nope"], "--lengths-key 'nope' is not in"),
        (["--lengths-key", "mask"], "must hold one integer per case"),
    ],
)
def test_errors_name_the_flags(stored, capsys, extra, message):
    _, _, _, folder = stored
    assert _explain(folder, *extra, "--out", str(folder / "e.npz")) == 2
    assert message in capsys.readouterr().err
