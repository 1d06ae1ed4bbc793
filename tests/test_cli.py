import numpy as np
import pytest
import torch

import chronolens as cl
from chronolens.cli import main
from chronolens.files import load_series
from chronolens.testing import tiny_conv_model


@pytest.fixture
def saved(tmp_path, tiny_x):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    torch.jit.script(model).save(str(tmp_path / "model.pt"))
    program = torch.export.export(
        model, (torch.zeros(2, 3, 40),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, str(tmp_path / "model.pt2"))
    np.save(tmp_path / "x.npy", tiny_x)
    np.savez(tmp_path / "x.npz", train=tiny_x, other=tiny_x[:1])
    return model, tmp_path


@pytest.mark.parametrize("model_file", ["model.pt", "model.pt2"])
def test_explain_saved_model_matches_in_memory(saved, tiny_x, model_file):
    model, folder = saved
    code = main(
        [
            "explain",
            str(folder / model_file),
            str(folder / "x.npy"),
            "--method",
            "integrated_gradients",
            "--param",
            "n_steps=8",
            "--target",
            "1",
            "--out",
            str(folder / "exp.npz"),
            "--quiet",
        ]
    )
    assert code == 0
    loaded = cl.Explanation.load(folder / "exp.npz")
    expected = cl.explain(model, tiny_x, "integrated_gradients", n_steps=8, target=1)
    np.testing.assert_allclose(loaded.attributions, expected.attributions, rtol=1e-4, atol=1e-6)
    assert (folder / "exp.png").stat().st_size > 1000


def test_cam_from_an_export_archive_names_layers(saved, tiny_x):
    model, folder = saved
    assert (
        main(
            [
                "explain",
                str(folder / "model.pt2"),
                str(folder / "x.npz"),
                "--key",
                "train",
                "--method",
                "grad_cam",
                "--layer",
                "conv2",
                "--out",
                str(folder / "cam.npz"),
                "--quiet",
            ]
        )
        == 0
    )
    loaded = cl.Explanation.load(folder / "cam.npz")
    expected = cl.explain(model, tiny_x, "grad_cam", layer="conv2")
    assert loaded.extras["layer"] == "conv2"
    np.testing.assert_allclose(loaded.attributions, expected.attributions, rtol=1e-4, atol=1e-6)


def test_pickled_model_is_refused(tmp_path, saved, capsys):
    model, folder = saved
    torch.save(model, tmp_path / "pickled.pt")
    code = main(
        [
            "explain",
            str(tmp_path / "pickled.pt"),
            str(folder / "x.npy"),
            "--method",
            "saliency",
            "--out",
            str(tmp_path / "e.npz"),
        ]
    )
    assert code == 2
    assert "pickled code, which chronolens does not execute" in capsys.readouterr().err


def test_clear_errors(saved, capsys):
    _, folder = saved
    code = main(
        [
            "explain",
            str(folder / "model.pt"),
            str(folder / "x.npz"),
            "--method",
            "saliency",
            "--out",
            str(folder / "e.npz"),
        ]
    )
    assert code == 2 and "--key" in capsys.readouterr().err
    code = main(
        [
            "explain",
            str(folder / "model.pt"),
            str(folder / "x.npy"),
            "--method",
            "grad_cam",
            "--out",
            str(folder / "e.npz"),
        ]
    )
    assert code == 2 and "torch.export" in capsys.readouterr().err
    code = main(
        [
            "explain",
            str(folder / "nope.pt"),
            str(folder / "x.npy"),
            "--method",
            "saliency",
            "--out",
            str(folder / "e.npz"),
        ]
    )
    assert code == 2 and "No model file" in capsys.readouterr().err


def test_csv_with_header(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("acc_x,acc_y\n1,2\n3,4\n5,6\n")
    values, names = load_series(path)
    assert names == ["acc_x", "acc_y"]
    np.testing.assert_array_equal(values, [[[1, 3, 5], [2, 4, 6]]])


def test_methods_command(capsys):
    assert main(["methods"]) == 0
    assert "integrated_gradients" in capsys.readouterr().out


def test_report_subcommand_writes_the_page(saved, tmp_path):
    _, folder = saved
    out = tmp_path / "r.html"
    code = main(
        [
            "report",
            str(folder / "model.pt2"),
            str(folder / "x.npy"),
            "--out",
            str(out),
            "--methods",
            "saliency,grad_cam",
            "--metric-cases",
            "0",
            "--quiet",
        ]
    )
    assert code == 0
    page = out.read_text()
    assert "saliency" in page and "grad_cam" in page and page.startswith("<!DOCTYPE html>")


def test_errors_speak_flags_not_python(saved, tmp_path, capsys):
    _, folder = saved
    x = np.random.default_rng(0).normal(size=(2, 40, 3)).astype(np.float32)  # channels last
    np.save(tmp_path / "nlc.npy", x)
    code = main(
        [
            "explain",
            str(folder / "model.pt2"),
            str(tmp_path / "nlc.npy"),
            "--method",
            "saliency",
            "--out",
            str(tmp_path / "e.npz"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--layout nlc" in err and "layout='nlc'" not in err
    assert (
        main(
            [
                "explain",
                str(folder / "model.pt2"),
                str(folder / "x.npy"),
                "--method",
                "saliency",
                "--batch-size",
                "many",
                "--out",
                str(tmp_path / "e.npz"),
            ]
        )
        == 2
    )
    assert "--batch-size 'many' is not a number of rows" in capsys.readouterr().err


def test_bad_arguments_are_answered_before_the_model_is_loaded(tmp_path, capsys, monkeypatch):
    import chronolens.files as files

    def never(path):
        raise AssertionError("the model should not be loaded")

    monkeypatch.setattr(files, "load_model", never)
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 40), np.float32))
    for argv in (
        ["explain", "m.keras", str(tmp_path / "x.npy"), "--method", "salincy", "--out", "e.npz"],
        [
            "explain",
            "m.keras",
            str(tmp_path / "x.npy"),
            "--method",
            "saliency",
            "--param",
            "n_stepz=3",
            "--out",
            "e.npz",
        ],
        ["evaluate", "m.keras", str(tmp_path / "x.npy"), "--methods", "saliency,nope"],
        ["report", "m.keras", str(tmp_path / "x.npy"), "--methods", "grad_camm"],
        [
            "explain",
            "m.keras",
            str(tmp_path / "missing.npy"),
            "--method",
            "saliency",
            "--out",
            "e.npz",
        ],
    ):
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'saliency'" in err and "No data file" in err


@pytest.mark.parametrize("command", ["explain", "report", "evaluate"])
def test_every_subcommand_help_lists_every_model_format(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fmt in (".pt2", "TorchScript", ".keras", ".h5", ".npy", ".npz", ".csv"):
        assert fmt in text, fmt
