"""The report's Counterfactuals section: the table and figures of cl.counterfactual's result."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from tests.counterfactual.planted import (
    HI,
    LO,
    WindowModel,
    planted_window_data,
    window_black_box,
)
from tests.reporting.test_report import Visit, browser, payload  # noqa: F401  (fixture)

import chronolens as cl

X, REF, Y = planted_window_data(n_query=4, n_ref=6)
QUICK = {"methods": ["saliency"], "metric_cases": 0, "sanity": False, "prototypes": False}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("cf") / "report.html"
    model = WindowModel()
    options = {"reference": (REF, Y), "distance": "euclidean"}
    cl.report(model, X, out=out, counterfactual=options, **QUICK)
    return out, cl.counterfactual(model, X, reference=(REF, Y), distance="euclidean")


def test_table_holds_every_case_of_the_result(written):
    path, direct = written
    section = payload(path)["counterfactual"]
    assert section["method"] == "native_guide" and section["cases"] == len(X)
    assert section["valid"] == len(X)  # planted: every case flips to class 1
    for row, i in zip(section["table"], range(len(X)), strict=True):
        assert row["from"] == "class 0" and row["to"] == "class 1" and row["valid"]
        diff = direct.counterfactual[i].astype(np.float64) - X[i]
        assert row["l1"] == pytest.approx(np.abs(diff).sum(), rel=1e-3)
        assert row["sparsity"] == pytest.approx(np.count_nonzero(diff) / diff.size, rel=1e-3)
        times = np.flatnonzero(direct.changed[i].any(axis=0))
        assert times[0] < HI and times[-1] >= LO


def test_figures_are_png_images_of_the_first_cases(written):
    section = payload(written[0])["counterfactual"]
    assert [f["case"] for f in section["figures"]] == [0, 1, 2]
    for figure in section["figures"]:
        assert base64.b64decode(figure["png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_true_uses_the_reports_own_cases_and_a_result_is_taken_as_is(tmp_path):
    both = np.concatenate([X, REF])
    labels = np.concatenate([np.zeros(len(X), int), Y])
    model = WindowModel()
    out = cl.report(model, both, y=labels, out=tmp_path / "a.html", counterfactual=True, **QUICK)
    section = payload(out)["counterfactual"]
    assert section["cases"] == len(both)
    result = cl.counterfactual(model, X, reference=(REF, Y), method="comte")
    out = cl.report(model, X, out=tmp_path / "b.html", counterfactual=result, **QUICK)
    rows = payload(out)["counterfactual"]["table"]
    assert [r["valid"] for r in rows] == result.validity.tolist()


def test_bad_counterfactual_arguments(tmp_path):
    model = WindowModel()
    result = cl.counterfactual(model, X, reference=(REF, Y))
    with pytest.raises(ValueError, match="computed on other series"):
        cl.report(model, X[:2], out=tmp_path / "c.html", counterfactual=result, **QUICK)
    with pytest.raises(TypeError, match="`counterfactual` must be"):
        cl.report(model, X, out=tmp_path / "c.html", counterfactual="comte", **QUICK)
    ragged = [X[0], X[1, :, :40]]
    with pytest.raises(ValueError, match="series of one length"):
        options = {**QUICK, "methods": ["occlusion"]}
        cl.report(window_black_box, ragged, out=tmp_path / "c.html", counterfactual=True, **options)


def test_the_section_draws_in_a_browser(written, browser):  # noqa: F811
    visit = Visit(browser, written[0])
    assert visit.errors == [] and visit.external() == []
    assert visit.page.locator("#counterfactual img").count() == 3
    assert visit.page.locator("#counterfactual-table tr").count() == 1 + len(X)
    visit.page.close()
