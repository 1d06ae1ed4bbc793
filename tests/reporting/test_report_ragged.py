"""The report on unequal-length data, and CAM edges drawn as such (hatched), in a real browser."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from tests.reporting import test_report as base
from tests.reporting.test_report import Visit, band_pixels, payload, screenshot_dir

import chronolens as cl
from chronolens.testing import tiny_conv_model

browser = base.browser  # the module-scoped Chromium fixture of the report tests

LENGTHS = [40, 30, 40, 25, 30, 40, 40, 30]


@pytest.fixture(scope="module")
def ragged():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(3, n)).astype(np.float32) for n in LENGTHS]


@pytest.fixture(scope="module")
def written(tmp_path_factory, ragged):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    out = tmp_path_factory.mktemp("ragged") / "ragged.html"
    return cl.report(
        model,
        ragged,
        y=np.arange(len(ragged)) % 3,
        methods=["saliency", "grad_cam"],
        out=out,
        metric_cases=4,
    )


def _codes(entry: dict, dtype, rows: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(entry), dtype).reshape(len(LENGTHS), rows, max(LENGTHS))


def test_padding_is_absent_from_maps_and_series(written):
    data = payload(written)
    assert data["lengths"] == LENGTHS
    series = _codes(data["series"]["data"], np.uint8, 3)
    for method in data["methods"]:
        codes = _codes(method["data"], np.int8, 3 if method["perChannel"] else 1)
        for case, n in enumerate(LENGTHS):
            assert (codes[case, :, n:] == -128).all()  # padding: the "no attribution" code
            assert (codes[case, :, :n] != -128).all()  # real points are never marked absent
            assert (series[case, :, n:] == 255).all()  # the series is not drawn on padding
            assert (series[case, :, :n] != 255).all()


def test_report_maps_are_explain_maps_of_the_list(written, ragged):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    direct = cl.explain(model, ragged, "saliency")
    data = payload(written)
    entry = next(m for m in data["methods"] if m["method"] == "saliency")
    codes = _codes(entry["data"], np.int8, 3).astype(np.float64)
    for case, n in enumerate(LENGTHS):
        values = np.asarray(direct.attributions[case, :, :n], dtype=np.float64)
        expected = np.rint(values / np.abs(values).max() * 127)
        np.testing.assert_allclose(codes[case, :, :n], expected, atol=1)


def test_sanity_and_prototypes_run_at_one_length(written):
    data = payload(written)
    note = data["sanity"]["note"]
    # the first 4 cases have lengths 40, 30, 40, 25: the most common is 40, cases 0 and 2
    assert "the 2 of the first 4 cases that have 40 points" in note
    classes = {item["klass"]: item["points"] for item in data["prototypes"]["classes"]}
    # classes are case % 3: class 0 = cases 0, 3, 6 (40, 25, 40); 1 = 1, 4, 7 (30, 30, 30);
    # 2 = cases 2, 5 (40, 40). Each prototype has its class's most common length.
    assert classes == {0: 40, 1: 30, 2: 40}


def test_pad_value_on_equal_length_data_is_refused(tmp_path):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    x = np.zeros((2, 3, 20), np.float32)
    with pytest.raises(ValueError, match="Drop `pad_value`"):
        cl.report(model, x, pad_value=0.0, out=tmp_path / "r.html")


def test_cam_edges_are_the_first_and_last_receptive_field_centres(tmp_path):
    # The question's CNN: Conv1d(9, valid) -> MaxPool(5), twice. Position r of pool2 sees input
    # points [25 r, 25 r + 72]: its centre is 25 r + 36 (conv1 adds 4, pool1 maps p to 5 p + 6,
    # conv2 adds 4 pool1 steps, pool2 maps r to 5 r + 2 conv2 steps). 120 points: r = 0, 1.
    model = cl.zoo.conv1d_classifier(n_channels=3, n_classes=2, n_timepoints=120)
    x = np.random.default_rng(1).normal(size=(2, 3, 120)).astype(np.float32)
    out = cl.report(
        model,
        x,
        methods={"grad_cam": {"layer": "pool2"}, "saliency": {}},
        out=tmp_path / "cam.html",
        metric_cases=0,
        prototypes=False,
    )
    methods = {m["method"]: m for m in payload(out)["methods"]}
    assert methods["grad_cam"]["edges"] == [36.0, 61.0]
    assert methods["saliency"]["edges"] is None  # a gradient map has no extended edges


def test_browser_draws_padding_grey_and_cam_edges_hatched(browser, written, tmp_path):
    visit = Visit(browser, written)
    page = visit.page
    page.locator("tr.row[data-case='3']").click()  # 25 of 40 points
    assert page.locator("#case-title").inner_text() == "Case 3"
    page.locator("#case-view").screenshot(path=str(screenshot_dir(tmp_path) / "ragged_case.png"))
    pixels = band_pixels(visit, 0)  # saliency, one row per channel
    height, width, _ = pixels.shape
    scale = height / (3 * (46 + 5) + 18)
    top, bottom = int(4 * scale), int(42 * scale)

    def column(time: int) -> np.ndarray:
        return np.median(pixels[top:bottom, int((time + 0.5) / 40 * width)], axis=0)

    np.testing.assert_allclose(column(35), [222, 225, 232], atol=3)  # padding: absent grey
    assert np.abs(column(10) - [222, 225, 232]).max() > 10  # a real point is not grey
    note = page.locator("#case-view p.note").last.inner_text()
    assert "this case has 25 of 40 points" in note
    assert visit.errors == [] and visit.external() == []
    page.close()


def test_browser_hatches_cam_edges(browser, tmp_path):
    model = cl.zoo.conv1d_classifier(n_channels=3, n_classes=2, n_timepoints=120)
    x = np.random.default_rng(1).normal(size=(2, 3, 120)).astype(np.float32)
    exp = cl.explain(model, x, "grad_cam", layer="pool2")
    # a constant map: without hatching, every pixel of the band would have one colour
    flat = cl.Explanation(
        x=x,
        attributions=np.ones((2, 1, 120), np.float32),
        target=exp.target,
        scores=exp.scores,
        method="grad_cam",
        per_channel=False,
        extras=dict(exp.extras),
    )
    out = cl.report(
        model, x, explanations=[flat], out=tmp_path / "h.html", metric_cases=0, prototypes=False
    )
    visit = Visit(browser, out)
    pixels = band_pixels(visit, 0)
    height, width, _ = pixels.shape
    scale = height / (3 * (46 + 5) + 18)
    band = pixels[int(4 * scale) : int(42 * scale)]
    inside = band[:, int(50.5 / 120 * width) - 1 : int(50.5 / 120 * width) + 2].reshape(-1, 3)
    before = band[:, int(10.5 / 120 * width)].reshape(-1, 3)
    after = band[:, int(100.5 / 120 * width)].reshape(-1, 3)
    # inside the centres: the map's one colour (up to the series line); outside: lighter
    # (faded) and striped (hatch lines), so the pixel colours vary down the column.
    assert before.mean() > np.median(inside, axis=0).mean() + 20
    assert after.mean() > np.median(inside, axis=0).mean() + 20
    assert before.std(axis=0).max() > 10 and after.std(axis=0).max() > 10
    assert visit.errors == []
    visit.page.close()
