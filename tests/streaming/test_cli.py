import numpy as np

from chronolens.cli import main


def test_cli_dataset_job(tmp_path, model_file, data, capsys):
    import zarr

    _, x = data
    zarr.open_group(str(tmp_path / "w.zarr"), mode="w").create_array(
        "x", data=x, chunks=(20, 3, 40)
    )
    out = tmp_path / "a.zarr"
    code = main(
        [
            "explain",
            str(model_file),
            str(tmp_path / "w.zarr"),
            "--method",
            "saliency",
            "--out",
            str(out),
            "--chunk-size",
            "25",
        ]
    )
    assert code == 0
    assert "60 cases" in capsys.readouterr().out
    assert np.asarray(zarr.open_group(str(out), mode="r")["done"][:]).all()


def test_cli_errors_name_flags(tmp_path, model_file, data, capsys):
    path, _ = data
    main(
        [
            "explain",
            str(model_file),
            str(path),
            "--method",
            "saliency",
            "--out",
            str(tmp_path / "o.zarr"),
            "--chunk-size",
            "30",
        ]
    )
    code = main(
        [
            "explain",
            str(model_file),
            str(path),
            "--method",
            "saliency",
            "--out",
            str(tmp_path / "o.zarr"),
            "--chunk-size",
            "20",
            "--quiet",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--out" in err and "--overwrite" in err
