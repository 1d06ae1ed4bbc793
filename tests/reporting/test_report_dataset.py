"""``cl.report(..., dataset=job)``: the whole-dataset section against numpy on the Zarr arrays,
drawn in a real browser, and ``chronolens report --dataset`` on the command line."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
from tests.reporting import test_report as base
from tests.reporting.test_report import Visit, payload

import chronolens as cl
from chronolens.testing import tiny_conv_model

zarr = pytest.importorskip("zarr")

browser = base.browser  # the module-scoped Chromium fixture of the report tests
N, C, T, CHUNK = 150, 3, 50, 32


@pytest.fixture(scope="module")
def model():
    return tiny_conv_model(n_channels=C, n_classes=3, seed=3)


@pytest.fixture(scope="module")
def job(tmp_path_factory, model):
    folder = tmp_path_factory.mktemp("dataset")
    x = np.random.default_rng(4).normal(size=(N, C, T)).astype(np.float32)
    np.save(folder / "x.npy", x)
    from chronolens.streaming import explain_dataset

    target = np.arange(N) % 3  # every class explained, whatever the untrained model predicts
    return explain_dataset(
        model,
        folder / "x.npy",
        method="saliency",
        out=folder / "a.zarr",
        chunk_size=CHUNK,
        target=target,
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory, model, job):
    x = np.random.default_rng(5).normal(size=(4, C, T)).astype(np.float32)
    out = tmp_path_factory.mktemp("report") / "r.html"
    return cl.report(
        model,
        x,
        methods=["saliency"],
        class_names=["a", "b", "c"],
        channel_names=["x", "y", "z"],
        dataset=job,
        out=out,
        metric_cases=0,
        prototypes=False,
    )


def _stored(job):
    """The whole store read at once: the independent reference's input."""
    group = zarr.open_group(str(job.out), mode="r")
    return np.asarray(group["attributions"][:], np.float64), np.asarray(group["target"][:])


def test_class_means_equal_numpy_on_the_store(written, job):
    a, target = _stored(job)
    section = payload(written)["dataset"]
    classes = sorted(set(target.tolist()))
    assert classes == [0, 1, 2]
    assert [item["klass"] for item in section["classes"]] == classes
    assert [item["count"] for item in section["classes"]] == [
        int((target == k).sum()) for k in classes
    ]
    codes = np.frombuffer(base64.b64decode(section["means"]), np.int8)
    codes = codes.reshape(len(classes), C, T).astype(np.float64)
    for i, k in enumerate(classes):
        mean = a[target == k].mean(axis=0)
        scale = np.abs(mean).max()
        assert section["scale"][i] == pytest.approx(scale, rel=1e-3)
        np.testing.assert_allclose(codes[i] / 127 * scale, mean, atol=scale / 127 * 0.51 + 1e-12)


def test_channel_importance_and_intervals_follow_the_definition(written, job):
    a, _ = _stored(job)
    section = payload(written)["dataset"]
    per_case = np.abs(a).mean(axis=2)  # (n, c): each case's mean |attribution| per channel
    expected = per_case.mean(axis=0)
    np.testing.assert_allclose(section["importance"], expected, rtol=1e-3)
    interval = np.asarray(section["interval"])
    assert (interval[:, 0] <= expected).all() and (expected <= interval[:, 1]).all()
    # a 95 % interval of a mean is about 2 x 1.96 standard errors wide
    normal = 2 * 1.96 * per_case.std(axis=0, ddof=1) / np.sqrt(len(per_case))
    np.testing.assert_allclose(interval[:, 1] - interval[:, 0], normal, rtol=0.35)
    assert section["rows"] == ["x", "y", "z"]


def test_top_windows_are_the_brute_force_best(written, job):
    a, target = _stored(job)
    section = payload(written)["dataset"]
    width = section["width"]
    assert width == T // 10
    profile = np.abs(a).sum(axis=1)  # (n, t)
    best = []
    for case in range(N):
        scores = [profile[case, s : s + width].mean() for s in range(T - width + 1)]
        start = int(np.argmax(scores))
        best.append((scores[start], case, start))
    best.sort(key=lambda r: (-r[0], r[1]))
    got = section["windows"]
    assert [(w["case"], w["start"]) for w in got] == [(c, s) for _, c, s in best[:10]]
    np.testing.assert_allclose([w["score"] for w in got], [v for v, _, _ in best[:10]], rtol=1e-3)
    assert [w["explained"] for w in got] == ["abc"[target[c]] for _, c, _ in best[:10]]


def test_a_path_gives_the_same_section(tmp_path, model, job, written):
    x = np.zeros((2, C, T), np.float32)
    out = cl.report(
        model,
        x,
        methods=["saliency"],
        class_names=["a", "b", "c"],
        channel_names=["x", "y", "z"],
        dataset=str(job.out),
        out=tmp_path / "p.html",
        metric_cases=0,
        prototypes=False,
    )
    assert payload(out)["dataset"] == payload(written)["dataset"]


def test_no_dataset_no_section(tmp_path, model):
    x = np.zeros((2, C, T), np.float32)
    out = cl.report(
        model, x, methods=["saliency"], out=tmp_path / "r.html", metric_cases=0, prototypes=False
    )
    assert payload(out)["dataset"] is None


def test_unfinished_missing_or_wrong_dataset_is_refused(tmp_path, model, job):
    import shutil

    x = np.zeros((2, C, T), np.float32)
    kwargs = {"methods": ["saliency"], "out": tmp_path / "r.html", "metric_cases": 0}
    copy = tmp_path / "copy.zarr"
    shutil.copytree(job.out, copy)
    zarr.open_group(str(copy), mode="r+")["done"][1] = 0
    with pytest.raises(ValueError, match=r"`dataset`.*1 chunks not written.*explain_dataset"):
        cl.report(model, x, dataset=copy, **kwargs)
    with pytest.raises(FileNotFoundError, match="`dataset`: no dataset job"):
        cl.report(model, x, dataset=tmp_path / "none.zarr", **kwargs)
    with pytest.raises(TypeError, match="`dataset` must be"):
        cl.report(model, x, dataset=42, **kwargs)
    assert not (tmp_path / "r.html").exists()


def test_browser_draws_the_dataset_section(browser, written):
    visit = Visit(browser, written)
    page = visit.page
    section = payload(written)["dataset"]
    assert page.locator("#dataset").count() == 1
    assert page.locator("nav a[href='#dataset']").count() == 1
    assert page.locator("canvas.dataset-canvas").count() == len(section["classes"])
    assert page.locator("tr.importance-row").count() == C
    rows = page.locator("tr.window-row").all_inner_texts()
    assert len(rows) == len(section["windows"])
    first = section["windows"][0]
    assert f"{first['start']}–{first['stop'] - 1}" in rows[0]
    assert page.locator("#dataset-importance th", has_text="y").count() == 1
    assert visit.errors == [] and visit.external() == [] and visit.dialogs == []
    page.close()


def test_cli_report_takes_a_dataset(tmp_path, model, job, capsys):
    from chronolens.cli import main

    torch.jit.script(model).save(str(tmp_path / "m.pt"))
    np.save(tmp_path / "x.npy", np.zeros((2, C, T), np.float32))
    args = ["report", str(tmp_path / "m.pt"), str(tmp_path / "x.npy"), "--methods", "saliency"]
    args += ["--metric-cases", "0", "--quiet"]
    out = tmp_path / "r.html"
    assert main([*args, "--dataset", str(job.out), "--out", str(out)]) == 0
    assert payload(out)["dataset"]["cases"] == N
    assert main([*args, "--dataset", str(tmp_path / "none.zarr"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--dataset" in err and "`dataset`" not in err


def test_a_shared_map_job_has_one_row(tmp_path, model):
    x = np.random.default_rng(6).normal(size=(40, C, T)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    from chronolens.streaming import explain_dataset

    job = explain_dataset(
        model, tmp_path / "x.npy", method="grad_cam", out=tmp_path / "g.zarr", chunk_size=16
    )
    out = cl.report(
        model,
        x[:2],
        methods=["saliency"],
        dataset=job,
        out=tmp_path / "g.html",
        metric_cases=0,
        prototypes=False,
    )
    section = payload(out)["dataset"]
    a, _ = _stored(job)
    assert a.shape[1] == 1 and section["rows"] == ["all channels (shared map)"]
    np.testing.assert_allclose(section["importance"], np.abs(a).mean(axis=(0, 2)), rtol=1e-3)
