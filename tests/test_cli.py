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
