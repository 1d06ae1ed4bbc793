import numpy as np
import pytest
import torch

import chronolens as cl
from chronolens.cli import main
from chronolens.metrics import average_precision_score, deletion, evaluate, insertion
from chronolens.testing import tiny_conv_model


@pytest.fixture
def saved(tmp_path, tiny_x):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    program = torch.export.export(
        model, (torch.zeros(2, 3, 40),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, str(tmp_path / "model.pt2"))
    torch.jit.script(model).save(str(tmp_path / "model.pt"))
    mask = np.zeros(tiny_x.shape, bool)
    mask[:, 0, 5:15] = True
    np.save(tmp_path / "x.npy", tiny_x)
    np.save(tmp_path / "mask.npy", mask)
    return model, tmp_path, mask


@pytest.mark.parametrize(
    ("model_file", "methods"),
    [("model.pt2", ("saliency", "grad_cam")), ("model.pt", ("saliency", "input_x_gradient"))],
)
def test_evaluate_command_prints_the_metrics_of_each_method(
    saved, tiny_x, capsys, model_file, methods
):
    model, folder, mask = saved
    args = [str(folder / model_file), str(folder / "x.npy"), "--mask", str(folder / "mask.npy")]
    args += ["--metrics", "deletion,insertion"]
    code = main(["evaluate", *args, "--methods", ",".join(methods), "--n-steps", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["method", "s/case"]
    for method in methods:
        row = next(line for line in lines if line.startswith(method))
        exp = cl.explain(model, tiny_x, method)
        expected = [
            f"{deletion(model, exp, n_steps=5).mean_auc:.3f}",
            f"{insertion(model, exp, n_steps=5).mean_auc:.3f}",
            f"{np.nanmean(average_precision_score(exp, mask)):.3f}",
        ]
        for value in expected:
            assert value in row
        assert "pass" in row or "FAIL" in row


def test_evaluate_without_mask_and_with_errors(saved, capsys):
    _, folder, _ = saved
    code = main(
        [
            "evaluate",
            str(folder / "model.pt2"),
            str(folder / "x.npy"),
            "--methods",
            "saliency",
            "--no-sanity",
            "--n-steps",
            "3",
            "--metrics",
            "deletion",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "AP" not in out and "not run" in out
    np.save(folder / "bad.npy", np.zeros((2, 3, 40), bool))
    code = main(
        [
            "evaluate",
            str(folder / "model.pt2"),
            str(folder / "x.npy"),
            "--methods",
            "saliency",
            "--mask",
            str(folder / "bad.npy"),
        ]
    )
    assert code == 2 and "mask" in capsys.readouterr().err
    code = main(["evaluate", str(folder / "model.pt2"), str(folder / "x.npy"), "--methods", "x"])
    assert code == 2 and "Unknown method" in capsys.readouterr().err


def test_evaluate_function_rows(tiny, tiny_x):
    result = evaluate(tiny, tiny_x, ["integrated_gradients"], n_steps=4, sanity=False)
    (row,) = result.rows
    assert row.method == "integrated_gradients" and row.seconds_per_case > 0
    assert np.isnan(row.average_precision)
    assert "integrated_gradients" in str(result)


def test_method_params_reach_the_method_and_unknown_names_are_refused() -> None:
    """Reference: evaluate() with params equals deletion() on explain() with the same params."""
    model = tiny_conv_model(n_channels=3, n_classes=2, seed=2)
    x = np.random.default_rng(7).normal(size=(4, 3, 10)).astype(np.float32)
    got = evaluate(model, x, ["occlusion"], params={"occlusion": {"window": 3}}, sanity=False)
    exp = cl.explain(model, x, "occlusion", window=3, stride=3)  # stride defaults to min(5, 3)
    expected = deletion(model, exp, seed=0, n_steps=20)
    assert got.rows[0].deletion_auc == pytest.approx(expected.mean_auc, rel=1e-6)
    with pytest.raises(ValueError, match=r"longer than the series"):
        evaluate(model, x, ["occlusion"], sanity=False)  # the default 15-point window
    with pytest.raises(ValueError, match=r"`params` names \['saliency'\].*not among `methods`"):
        evaluate(model, x, ["occlusion"], params={"saliency": {}}, sanity=False)


def test_evaluate_command_prints_the_verdict_and_its_json(tmp_path, capsys):
    """Reference: a linear model's input x gradient is its exact map W * x, better than random
    on every signed metric; the JSON's numbers equal road() and deletion() called directly."""
    import json

    from chronolens.metrics import road
    from chronolens.testing import linear_model

    model = linear_model(n_channels=2, n_timepoints=30, n_classes=2, seed=4)
    x = np.random.default_rng(3).normal(size=(10, 2, 30)).astype(np.float32)
    program = torch.export.export(
        model, (torch.zeros(2, 2, 30),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, str(tmp_path / "linear.pt2"))
    np.save(tmp_path / "x.npy", x)
    files = [str(tmp_path / "linear.pt2"), str(tmp_path / "x.npy")]
    options = ["--methods", "input_x_gradient", "--no-sanity", "--target", "0"]
    options += ["--metrics", "deletion_linear,road,aopcr"]
    assert main(["evaluate", *files, *options, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["verdict"] == "better than random"
    assert {c["metric"] for c in row["calls"]} == {
        "deletion_linear",
        "road_morf",
        "road_lerf",
        "aopcr",
    }
    assert all(c["call"] == "better" for c in row["calls"])
    exp = cl.explain(model, x, "input_x_gradient", target=0)
    ran = road(model, exp)
    assert row["metrics"]["road_morf"] == pytest.approx(ran.mean_morf_auc, rel=1e-6)
    assert row["random_references"]["road_lerf"] == pytest.approx(ran.mean_random_auc, rel=1e-6)
    linear = deletion(model, exp, imputation="linear")
    assert row["metrics"]["deletion_linear"] == pytest.approx(linear.mean_auc, rel=1e-6)
    assert main(["evaluate", *files, *options]) == 0
    out = capsys.readouterr().out
    assert "verdict" in out.splitlines()[0] and "better than random" in out
    assert main(["evaluate", *files, *options[:-1], "road,nope"]) == 2
    assert "`metrics` names ['nope']" in capsys.readouterr().err
    # The call's p-values travel in the JSON, Holm-adjusted (never below the raw value).
    for call in row["calls"]:
        assert 0 <= call["p_value"] <= call["p_adjusted"] <= 0.05
    # --threshold is the uncorrected rule; with --correction it is refused in flag terms.
    assert main(["evaluate", *files, *options, "--threshold", "2", "--correction", "holm"]) == 2
    err = capsys.readouterr().err
    assert "--threshold" in err and "--alpha" in err and "`" not in err.split("error:")[1]
    assert main(["evaluate", *files, *options, "--alpha", "0", "--json"]) == 0
    (strict,) = json.loads(capsys.readouterr().out)["rows"]
    assert strict["verdict"] == "inconclusive"  # alpha = 0: nothing can be called
