"""The HTML report: contents, escaping, determinism, size, and a real browser (Chromium)."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import chronolens as cl
from chronolens.explanation import Explanation
from chronolens.reporting import _stats as stats
from chronolens.testing import tiny_conv_model

EVIL = "<script>alert(1)</script>"


def payload(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    match = re.search(
        r'<script id="report-data" type="application/json">(.*?)</script>', text, re.S
    )
    assert match is not None
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def model():
    return tiny_conv_model(n_channels=3, n_classes=3, seed=1)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(4).normal(size=(12, 3, 40)).astype(np.float32)


@pytest.fixture(scope="module")
def y(X):
    return np.arange(len(X)) % 3


# ---------------------------------------------------------------------- numerics
def test_spearman_matches_scipy_with_ties():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, 5, size=30).astype(float)  # many ties
        b = a + rng.normal(size=30)
        expected = scipy_stats.spearmanr(a, b).statistic
        assert stats.spearman(a, b) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(stats.spearman(np.ones(5), np.arange(5.0)))


def test_top_windows_match_brute_force():
    rng = np.random.default_rng(1)
    profile = rng.random(60)
    windows = stats.top_windows(profile, 5, count=3)
    best = max(range(56), key=lambda s: profile[s : s + 5].sum())
    assert windows[0]["start"] == best
    spans = [set(range(w["start"], w["stop"])) for w in windows]
    assert all(not (a & b) for i, a in enumerate(spans) for b in spans[i + 1 :])
    assert windows[0]["share"] == pytest.approx(
        profile[best : best + 5].sum() / profile.sum(), 1e-3
    )
    assert stats.top_windows(np.zeros(10), 3) == []


def test_encodings_round_trip_within_one_code():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 2, 50))
    x[1, 1, 7] = np.nan
    text, low, high = stats.encode_series(x)
    codes = np.frombuffer(base64.b64decode(text), np.uint8).reshape(x.shape).astype(float)
    assert codes[1, 1, 7] == 255
    decoded = low[..., None] + codes / 254 * (high - low)[..., None]
    finite = np.isfinite(x)
    step = ((high - low) / 254)[..., None] * np.ones_like(x)
    assert np.all(np.abs(decoded - x)[finite] <= step[finite] / 2 + 1e-12)

    a = rng.normal(size=(3, 2, 50))
    text, scale = stats.encode_attributions(a)
    codes = np.frombuffer(base64.b64decode(text), np.int8).reshape(a.shape)
    np.testing.assert_allclose(scale, np.abs(a).reshape(3, -1).max(axis=1))
    assert np.all(
        np.abs(codes / 127 * scale[:, None, None] - a) <= scale[:, None, None] / 254 + 1e-12
    )


# ---------------------------------------------------------------------- contents
@pytest.fixture(scope="module")
def written(tmp_path_factory, model, X, y):
    path = tmp_path_factory.mktemp("report") / "report.html"
    cl.report(
        model,
        X,
        y=y,
        methods=["grad_cam", "saliency", "smoothgrad"],
        class_names=["a", "b", "c"],
        channel_names=[EVIL, "acc & gyro", "z"],
        out=path,
        title=f"title {EVIL}",
        metric_cases=2,
        prototypes=False,
        progress=False,
    )
    return path


def test_accuracy_and_confusion_match_the_model(written, model, X, y):
    data = payload(written)
    with torch.no_grad():
        predicted = model(torch.from_numpy(X)).argmax(dim=1).numpy()
    assert data["cases"]["predicted"] == predicted.tolist()
    assert data["accuracy"] == pytest.approx(np.mean(predicted == y), abs=1e-4)
    for i in range(3):
        for j in range(3):
            assert data["confusion"][i][j] == int(np.sum((y == i) & (predicted == j)))
    assert [m["label"] for m in data["methods"]][1:] == ["saliency", "smoothgrad"]
    assert data["methods"][0]["perChannel"] is False


@pytest.fixture(scope="module")
def with_prototypes(tmp_path_factory):
    if not hasattr(cl, "maximize"):
        pytest.skip("this chronolens has no activation maximization")
    model = tiny_conv_model(n_channels=2, n_classes=2, seed=3)
    X = np.random.default_rng(6).normal(size=(6, 2, 24)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 0, 1])
    path = tmp_path_factory.mktemp("proto") / "r.html"
    cl.report(model, X, y=y, methods=["saliency"], out=path, metric_cases=0)
    return model, X, y, path


def test_prototypes_come_from_maximize(with_prototypes):
    from chronolens.reporting._sections import PROTOTYPE_RESTARTS, PROTOTYPE_STEPS

    model, X, y, path = with_prototypes
    data = payload(path)["prototypes"]
    assert [item["klass"] for item in data["classes"]] == [0, 1]
    first = data["classes"][0]
    members = np.flatnonzero(y == 0)
    expected = cl.maximize(
        model,
        0,
        reference=X[members],
        seed=0,
        n_restarts=PROTOTYPE_RESTARTS,
        n_steps=PROTOTYPE_STEPS,
    )
    assert first["score"] == pytest.approx(float(expected.target_value[0]), rel=1e-3)


def test_browser_draws_prototypes(browser, with_prototypes):
    visit = Visit(browser, with_prototypes[3])
    canvases = visit.page.locator("canvas.prototype-canvas")
    assert canvases.count() == 2
    assert visit.errors == [] and visit.external() == []
    visit.page.close()


def test_agreement_is_spearman_of_the_methods_maps(written, model, X):
    data = payload(written)
    scipy_stats = pytest.importorskip("scipy.stats")
    saliency = cl.explain(model, X, "saliency", progress=False).attributions
    smooth = cl.explain(model, X, "smoothgrad", seed=0, progress=False).attributions
    pair = data["agreement"]["pairs"].index([1, 2])
    for case in range(len(X)):
        expected = scipy_stats.spearmanr(
            np.abs(saliency[case]).ravel(), np.abs(smooth[case]).ravel()
        ).statistic
        assert data["agreement"]["perCase"][case][pair] == pytest.approx(expected, abs=1e-3)


def test_class_channel_means_follow_the_definition(written, model, X):
    data = payload(written)
    saliency = np.abs(cl.explain(model, X, "saliency", progress=False).attributions)
    predicted = np.array(data["cases"]["predicted"])
    for klass in range(3):
        members = saliency[predicted == klass]
        row = data["methods"][1]["classChannel"][klass]
        if len(members) == 0:
            assert row is None
            continue
        per_case = members / members.max(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(row, per_case.mean(axis=(0, 2)), rtol=1e-3)


def test_user_strings_are_escaped(written):
    text = written.read_text(encoding="utf-8")
    assert EVIL not in text
    assert text.count("<script") == 2  # the data block and the page's own script
    assert "<title>title &lt;script&gt;alert(1)&lt;/script&gt;</title>" in text
    assert payload(written)["channels"][0] == EVIL  # the data keeps the name as text


def test_self_contained_no_external_references(written):
    text = written.read_text(encoding="utf-8")
    assert not re.search(r"\bsrc\s*=", text)
    assert not re.search(r"""href\s*=\s*["'](?!#|data:)""", text)
    assert "default-src 'none'" in text  # the page itself forbids any fetch


def test_same_inputs_and_seed_give_identical_bytes(tmp_path, model, X, y):
    methods = {"saliency": {}, "smoothgrad": {"n_samples": 4}}
    kwargs = dict(y=y[:4], methods=methods, metric_cases=1, prototypes=False, progress=False)
    first = cl.report(model, X[:4], out=tmp_path / "a.html", **kwargs).read_bytes()
    second = cl.report(model, X[:4], out=tmp_path / "b.html", **kwargs).read_bytes()
    assert first == second
    other = cl.report(model, X[:4], out=tmp_path / "c.html", seed=1, **kwargs).read_bytes()
    assert other != first  # the seed reaches SmoothGrad


def test_model_is_left_untouched(tmp_path, X):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cl.report(model, X[:3], methods=["saliency"], out=tmp_path / "r.html", metric_cases=2)
    assert model.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def size_bound(n: int, c: int, t: int, per_channel: int, shared: int) -> int:
    """The documented bound: 1.5 bytes per stored value plus 100 kB."""
    return int(1.5 * n * t * (c * (1 + per_channel) + shared) + 100_000)


def test_report_of_200_cases_stays_under_the_documented_size(tmp_path):
    n, c, t = 200, 9, 300
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, c, t)).astype(np.float32)
    scores = rng.normal(size=(n, 4)).astype(np.float32)
    explanations = [  # three per-channel maps and two shared ones, random (incompressible)
        Explanation(
            x=X,
            attributions=rng.normal(size=(n, rows, t)).astype(np.float32),
            target=scores.argmax(axis=1),
            scores=scores,
            method=f"method{m}",
            per_channel=rows == c,
        )
        for m, rows in enumerate([c, c, c, 1, 1])
    ]
    model = tiny_conv_model(n_channels=c, n_classes=4, seed=0)
    path = cl.report(
        model,
        X,
        y=np.arange(n) % 4,
        explanations=explanations,
        out=tmp_path / "r.html",
        metric_cases=0,
        prototypes=False,
    )
    size = path.stat().st_size
    assert size <= size_bound(n, c, t, per_channel=3, shared=2)
    assert size <= 3_500_000  # the README's figure for this report


def test_long_series_are_pooled_to_max_points(tmp_path, model):
    X = np.zeros((2, 3, 5000), np.float32)
    X[:, :, 2501] = 1.0
    path = cl.report(
        model,
        X,
        methods=["saliency"],
        out=tmp_path / "r.html",
        metric_cases=0,
        max_points=500,
        prototypes=False,
    )
    data = payload(path)
    assert data["factor"] == 10 and data["storedPoints"] == 500


def test_precomputed_explanations_are_reported(tmp_path, model, X):
    exp = cl.explain(model, X, "saliency", progress=False)
    path = cl.report(
        model, X, explanations=[exp], out=tmp_path / "r.html", metric_cases=0, prototypes=False
    )
    data = payload(path)
    assert [m["method"] for m in data["methods"]] == ["saliency"]


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"out": "report.npz"}, ValueError, "`out`"),
        ({"out": 3}, TypeError, "`out`"),
        ({"y": [0, 1]}, ValueError, "`y`"),
        ({"y": np.full(12, 7)}, ValueError, "`y`"),
        ({"channel_names": ["a"]}, ValueError, "`channel_names`"),
        ({"class_names": "abc"}, TypeError, "`class_names`"),
        ({"methods": 3}, TypeError, "`methods`"),
        ({"methods": ["salency"]}, ValueError, "saliency"),
        ({"methods": []}, ValueError, "`methods`"),
        ({"metric_cases": -1}, ValueError, "`metric_cases`"),
    ],
)
def test_bad_input_names_the_parameter(tmp_path, model, X, kwargs, error, words):
    kwargs.setdefault("out", tmp_path / "r.html")
    with pytest.raises(error, match=re.escape(words)):
        cl.report(model, X, **{"methods": ["saliency"], "progress": False, **kwargs})


def test_explanations_of_other_series_are_refused(tmp_path, model, X):
    exp = cl.explain(model, X + 1, "saliency", progress=False)
    with pytest.raises(ValueError, match="`explanations\\[0\\]`"):
        cl.report(model, X, explanations=[exp], out=tmp_path / "r.html")


# ---------------------------------------------------------------------- CLI
def test_cli_explain_writes_a_report_for_html(tmp_path, model, X):
    from chronolens.cli import main

    torch.jit.script(model).save(str(tmp_path / "model.pt"))
    np.save(tmp_path / "x.npy", X)
    (tmp_path / "y.txt").write_text("".join(f"{i % 3}\n" for i in range(len(X))))
    out = tmp_path / "out" / "report.html"
    code = main(
        [
            "explain",
            str(tmp_path / "model.pt"),
            str(tmp_path / "x.npy"),
            "--method",
            "saliency,input_x_gradient",
            "--labels",
            str(tmp_path / "y.txt"),
            "--metric-cases",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    data = payload(out)
    assert [m["method"] for m in data["methods"]] == ["saliency", "input_x_gradient"]
    assert data["cases"]["truth"] == [i % 3 for i in range(len(X))]
    assert not (tmp_path / "out" / "report.npz").exists()


def test_cli_report_defaults_skip_cam_for_torchscript(tmp_path, model, X):
    from chronolens.cli import main

    torch.jit.script(model).save(str(tmp_path / "model.pt"))
    np.save(tmp_path / "x.npy", X[:3])
    out = tmp_path / "report.html"
    args = ["explain", str(tmp_path / "model.pt"), str(tmp_path / "x.npy"), "--out", str(out)]
    assert main([*args, "--metric-cases", "0", "--quiet"]) == 0
    assert [m["method"] for m in payload(out)["methods"]] == ["integrated_gradients", "saliency"]


def test_cli_report_refuses_target(tmp_path, model, X, capsys):
    from chronolens.cli import main

    torch.jit.script(model).save(str(tmp_path / "model.pt"))
    np.save(tmp_path / "x.npy", X[:3])
    args = ["explain", str(tmp_path / "model.pt"), str(tmp_path / "x.npy"), "--target", "1"]
    assert main([*args, "--out", str(tmp_path / "r.html")]) == 2
    assert "--target" in capsys.readouterr().err


# ---------------------------------------------------------------------- real browser
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Visit:
    """A page opened on a report, recording console errors, dialogs and every request."""

    def __init__(self, browser, path: Path):
        self.url = path.resolve().as_uri()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)
        self.page.goto(self.url)
        self.page.wait_for_function("window.chronolensReport && window.chronolensReport.ready")

    def _console(self, message):
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route):
        self.requests.append(route.request.url)
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()

    def external(self) -> list[str]:
        return [url for url in self.requests if url != self.url]


def band_pixels(visit: Visit, method_index: int) -> np.ndarray:
    from matplotlib.image import imread

    canvas = visit.page.locator("canvas.band-canvas").nth(method_index)
    png = canvas.screenshot()
    import io

    return (imread(io.BytesIO(png))[..., :3] * 255).round().astype(int)


@pytest.fixture(scope="module")
def planted(tmp_path_factory, model):
    """A report whose only map is a planted peak: channel 1, time points 30-34 of 60."""
    X = np.random.default_rng(5).normal(size=(4, 3, 60)).astype(np.float32)
    attributions = np.zeros((4, 3, 60), np.float32)
    attributions[:, 1, 30:35] = 1.0
    with torch.no_grad():
        scores = model(torch.from_numpy(X)).numpy()
    exp = Explanation(
        x=X,
        attributions=attributions,
        target=scores.argmax(axis=1),
        scores=scores,
        method="planted",
        channel_names=(EVIL, "b", "c"),
    )
    path = tmp_path_factory.mktemp("planted") / "planted.html"
    return cl.report(
        model, X, y=[0, 1, 2, 0], explanations=[exp], out=path, metric_cases=0, prototypes=False
    )


def test_browser_no_errors_no_requests_and_cases_navigate(browser, written):
    visit = Visit(browser, written)
    page = visit.page
    assert page.locator("#case-title").inner_text() == "Case 0"
    page.click("#next")
    assert page.locator("#case-title").inner_text() == "Case 1"
    page.click("#prev")
    page.click("#prev")
    assert page.locator("#case-title").inner_text() == "Case 11"  # wraps around
    page.locator("tr.row[data-case='5']").click()
    assert page.locator("#case-title").inner_text() == "Case 5"
    page.keyboard.press("ArrowRight")
    assert page.locator("#case-title").inner_text() == "Case 6"
    page.select_option("#overview-method", "1")
    klass = payload(written)["cases"]["predicted"][0]
    page.select_option("#case-filter", f"p{klass}")
    predicted = page.locator("tr.row td:nth-child(2)").all_inner_texts()
    assert predicted and set(predicted) == {"abc"[klass]}
    assert page.locator("canvas.band-canvas").count() == 3
    assert page.locator("#faithfulness").count() == 1
    assert page.locator("#sanity").count() == 1
    assert visit.errors == []
    assert visit.external() == []
    assert visit.dialogs == []
    page.close()


def test_browser_renders_hostile_names_as_text(browser, written):
    visit = Visit(browser, written)
    page = visit.page
    assert page.evaluate("document.scripts.length") == 2
    assert page.locator(".labels div", has_text=EVIL).count() >= 1
    assert page.title() == f"title {EVIL}"
    assert visit.dialogs == []
    assert visit.errors == []
    page.close()


def test_browser_draws_the_heat_band_where_the_map_is(browser, planted):
    visit = Visit(browser, planted)
    page = visit.page
    assert page.locator("#case-title").inner_text() == "Case 0"
    pixels = band_pixels(visit, 0)
    height, width, _ = pixels.shape
    assert pixels.std() > 10  # not blank
    scale = height / (3 * (46 + 5) + 18)  # rows of 46 px, gaps of 5 px, a time axis of 18 px

    def colour(channel: int, time: int) -> np.ndarray:
        """Median colour down the middle of a band cell (robust to the series line)."""
        top, bottom = int((channel * 51 + 4) * scale), int((channel * 51 + 42) * scale)
        x = int((time + 0.5) / 60 * width)
        return np.median(pixels[top:bottom, x], axis=0)

    peak = colour(1, 32)
    assert peak[0] > 80 and peak[0] > peak[2] + 40, peak  # dark red under the planted peak
    assert colour(1, 10).min() > 200  # pale where the map is zero
    assert colour(0, 32).min() > 200  # another channel at the same time: no peak
    assert colour(2, 32).min() > 200
    page.click("#next")
    assert band_pixels(visit, 0).std() > 10
    assert visit.errors == [] and visit.external() == []
    page.close()


def test_default_methods_lead_with_a_per_channel_map(tmp_path, model, X):
    out = cl.report(
        model, X[:3], out=tmp_path / "r.html", metric_cases=0, sanity=False, prototypes=False
    )
    methods = payload(out)["methods"]
    assert methods[0]["method"] == "channel_grad_cam"
    assert methods[0]["perChannel"] is True
    shared = [m for m in methods if m["method"] == "grad_cam"]
    assert shared and shared[0]["perChannel"] is False  # the shared map is still there


def test_browser_overview_starts_on_the_first_per_channel_method(browser, written):
    visit = Visit(browser, written)
    methods = payload(written)["methods"]
    first = next(i for i, m in enumerate(methods) if m["perChannel"])
    assert methods[0]["perChannel"] is False  # grad_cam comes first in this report
    assert visit.page.locator("#overview-method").input_value() == str(first)
    heads = visit.page.locator("#where th.col").all_inner_texts()
    assert len(heads) == 3  # one column per channel, not the shared map's one
    assert visit.errors == []
    visit.page.close()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where the browser tests save their screenshots: $CHRONOLENS_SCREENSHOTS or tmp_path."""
    import os

    folder = Path(os.environ.get("CHRONOLENS_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_browser_four_methods_fit_1400_px_without_sideways_scrolling(browser, tmp_path, model, X):
    out = cl.report(
        model,
        X[:4],
        out=tmp_path / "four.html",
        channel_names=["acc_x", "acc_y", "gyro_z"],
        class_names=["walk", "run", "sit"],
        metric_cases=0,
        sanity=False,
        prototypes=False,
    )
    assert len(payload(out)["methods"]) == 4
    visit = Visit(browser, out)
    page = visit.page
    shots = screenshot_dir(tmp_path)
    page.screenshot(path=str(shots / "first_screen.png"))
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 1400
    view = page.locator("#case-view")
    view.screenshot(path=str(shots / "case_view.png"))
    assert view.evaluate("v => v.scrollWidth <= v.clientWidth")  # no sideways overflow
    columns = page.locator("#case-view .columns")
    assert columns.evaluate("c => c.scrollWidth <= c.clientWidth")  # all four columns visible
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 1400
    assert visit.errors == []
    page.close()
