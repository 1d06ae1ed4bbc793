"""The report's faithfulness section shows the verdict that survives the choice of metric.

References: a linear model's exact map ``W * x`` (better than random on every signed metric)
and its reverse (worse); the section's numbers against road() and deletion() called directly;
the page (Chromium) colours only the verdict, green for better and red for worse.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import chronolens as cl
from chronolens.metrics import deletion, road
from chronolens.reporting._sections import REPORT_METRICS
from chronolens.testing import linear_model

from .test_report import Visit, browser, payload  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    model = linear_model(n_channels=2, n_timepoints=30, n_classes=2, seed=4)
    x = np.random.default_rng(3).normal(size=(10, 2, 30)).astype(np.float32)
    weights = model[1].weight.detach().numpy()
    base = cl.explain(model, x, "saliency", progress=False)
    exact = weights[base.target].reshape(len(x), 2, 30) * x
    maps = [
        dataclasses.replace(base, attributions=values.astype(np.float32), method=name)
        for name, values in (("exact", exact), ("reverse", -exact))
    ]
    path = tmp_path_factory.mktemp("trust") / "trust.html"
    cl.report(model, x, explanations=maps, out=path, sanity=False, prototypes=False)
    return model, maps, path


def test_the_section_gives_each_maps_verdict_and_what_each_metric_said(written):
    model, maps, path = written
    table = {row["label"]: row for row in payload(path)["faithfulness"]["table"]}
    assert table["exact"]["verdict"] == "better than random"
    assert table["reverse"]["verdict"] == "worse than random"
    for label, call in (("exact", "better"), ("reverse", "worse")):
        calls = {c["metric"]: c for c in table[label]["calls"]}
        assert set(calls) == {
            "deletion",
            "insertion",
            "deletion_linear",
            "road_morf",
            "road_lerf",
            "aopcr",
        }
        assert all(c["call"] == call for c in calls.values())
        assert f"{call}: deletion" in table[label]["detail"]
    ran = road(model, maps[0])
    calls = {c["metric"]: c for c in table["exact"]["calls"]}
    assert calls["road_morf"]["value"] == pytest.approx(ran.mean_morf_auc, abs=1e-3)
    assert calls["road_lerf"]["random"] == pytest.approx(ran.mean_random_auc, abs=1e-3)
    linear = deletion(model, maps[0], imputation="linear")
    assert calls["deletion_linear"]["value"] == pytest.approx(linear.mean_auc, abs=1e-3)
    assert "road" in REPORT_METRICS and "aopcr" in REPORT_METRICS


def test_the_page_colours_the_verdict_only(browser, written):  # noqa: F811
    visit = Visit(browser, written[2])
    page = visit.page
    rows = page.locator("#faithfulness tr.verdict-row")
    assert rows.count() == 2
    cells = [rows.nth(i).locator("td").nth(4) for i in range(2)]  # the verdict column
    assert [c.inner_text() for c in cells] == ["better than random", "worse than random"]
    assert [c.get_attribute("class") for c in cells] == ["hit", "miss"]
    assert page.locator("#faithfulness td.hit").count() == 1  # no other cell is coloured
    assert (
        "exact: better than random (better: deletion"
        in page.locator("#faithfulness .verdict-detail").first.inner_text()
    )
    assert visit.errors == []
    page.close()
