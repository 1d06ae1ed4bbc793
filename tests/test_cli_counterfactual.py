"""``chronolens counterfactual``: saved model and series in, a Counterfactual .npz + figure out."""

import numpy as np
import pytest
import torch
from tests.counterfactual.planted import HI, LO, WindowModel, planted_window_data

import chronolens as cl
from chronolens.cli import main
from chronolens.counterfactual import Counterfactual

X, REF, Y = planted_window_data(n_query=2, n_ref=6)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_cf")
    model = WindowModel().eval()
    torch.jit.script(model).save(str(root / "model.pt"))
    np.save(root / "x.npy", X)
    np.savez(root / "ref.npz", series=REF, labels=Y)
    return root


def test_native_guide_writes_the_result_and_a_figure(files, capsys):
    out = files / "cf.npz"
    argv = [str(files / "model.pt"), str(files / "x.npy"), "--reference", str(files / "ref.npz")]
    keys = ["--reference-key", "series", "--reference-labels", "labels"]
    code = main(["counterfactual", *argv, *keys, "--distance", "euclidean", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    result = Counterfactual.load(out)
    assert out.with_suffix(".png").stat().st_size > 0
    assert result.validity.all() and (result.new_class == 1).all()
    for i in range(len(X)):
        times = np.flatnonzero(result.changed[i].any(axis=0))
        assert np.array_equal(times, np.arange(times[0], times[-1] + 1))
        assert times[0] < HI and times[-1] >= LO
    # the same numbers as the Python call on the original model, with the same relevance map
    # (a TorchScript module has no hooks: no CAM, so the default falls back to occlusion)
    assert result.params["relevance"] == "occlusion"
    direct = cl.counterfactual(
        WindowModel(), X, reference=(REF, Y), distance="euclidean", relevance="occlusion"
    )
    np.testing.assert_array_equal(result.counterfactual, direct.counterfactual)


def test_comte_on_the_command_line(files, capsys):
    out = files / "swap.npz"
    argv = [str(files / "model.pt"), str(files / "x.npy"), "--reference", str(files / "ref.npz")]
    keys = ["--reference-key", "series", "--reference-labels", "labels", "--method", "comte"]
    assert main(["counterfactual", *argv, *keys, "--out", str(out), "--quiet"]) == 0
    result = Counterfactual.load(out)
    assert result.changed[:, 1].all() and not result.changed[:, [0, 2]].any()
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--reference-key"),  # two arrays in ref.npz
        (["--reference-key", "series", "--target", "x"], "--target 'x' is not a class index"),
        (["--reference-key", "series", "--target", "5"], "--target 5 does not exist"),
        (["--reference-key", "series", "--search", "greedy"], "--search do not apply"),
        (["--reference-key", "series", "--case", "7"], "--case 7 is out of range"),
        (["--reference-key", "labels"], "--reference"),
    ],
)
def test_errors_name_the_flags(files, capsys, extra, message):
    argv = [str(files / "model.pt"), str(files / "x.npy"), "--reference", str(files / "ref.npz")]
    code = main(["counterfactual", *argv, *extra, "--out", str(files / "bad.npz")])
    assert code == 2
    assert message in capsys.readouterr().err
