"""Static plots: figures, colour scales, alignment of the bands and the notebook HTML."""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import replace

import numpy as np
import pytest
from matplotlib.figure import Figure

from chronolens.explanation import Explanation
from chronolens.plot import plot_comparison, plot_explanation
from chronolens.plot._html_snippet import explanation_html

N, C, T = 3, 4, 60


def make_explanation(
    *,
    n: int = N,
    c: int = C,
    t: int = T,
    per_channel: bool = True,
    signed: bool = True,
    method: str = "saliency",
    seed: int = 0,
    **kwargs,
) -> Explanation:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, t)).astype(np.float32)
    rows = c if per_channel else 1
    attributions = rng.standard_normal((n, rows, t)).astype(np.float32)
    if not signed:
        attributions = np.abs(attributions)
    kwargs.setdefault("target", np.arange(n) % 2)
    kwargs.setdefault("scores", rng.standard_normal((n, 2)))
    return Explanation(
        x=x, attributions=attributions, method=method, per_channel=per_channel, **kwargs
    )


def band_images(fig: Figure) -> list:
    return [image for ax in fig.axes for image in ax.images]


def render(fig: Figure) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())


def pixel(fig: Figure, rgba: np.ndarray, ax, x: float, y_fraction: float) -> np.ndarray:
    """RGB of the pixel at data x and axes-fraction y (buffer rows count from the top)."""
    x_display = ax.transData.transform((x, 0.0))[0]
    y_display = ax.transAxes.transform((0.0, y_fraction))[1]
    row = rgba.shape[0] - 1 - round(y_display)
    return rgba[row, round(x_display), :3].astype(int)


# ---------------------------------------------------------------------- plot_explanation
def test_returns_figure_with_one_axes_per_channel_and_a_colorbar(tmp_path):
    exp = make_explanation()
    fig = plot_explanation(exp, 1)
    assert isinstance(fig, Figure)
    assert len(band_images(fig)) == C
    assert len(fig.axes) == C + 1  # the channel rows and one colorbar
    assert fig.axes[-1].get_ylabel() == "attribution"
    fig.savefig(tmp_path / "case.png")
    assert (tmp_path / "case.png").stat().st_size > 1000


def test_explanation_plot_method_forwards_keywords():
    fig = make_explanation().plot(0, channels=[2], title="mine")
    assert len(band_images(fig)) == 1
    assert fig.get_suptitle() == "mine"


def test_signed_map_shares_one_symmetric_scale_across_channels():
    exp = make_explanation(signed=True)
    fig = plot_explanation(exp, 2)
    limits = {image.get_clim() for image in band_images(fig)}
    assert len(limits) == 1
    low, high = limits.pop()
    assert low == pytest.approx(-high)
    assert high == pytest.approx(float(np.abs(exp.attributions[2]).max()))
    assert band_images(fig)[0].get_cmap().name == "RdBu_r"


def test_non_negative_map_uses_a_sequential_scale_from_zero():
    exp = make_explanation(signed=False)
    fig = plot_explanation(exp, 0)
    limits = {image.get_clim() for image in band_images(fig)}
    assert len(limits) == 1
    low, high = limits.pop()
    assert low == 0.0
    assert high == pytest.approx(float(exp.attributions[0].max()))
    assert band_images(fig)[0].get_cmap().name == "Reds"


def test_all_zero_map_still_draws():
    exp = make_explanation(signed=False)
    exp = replace(exp, attributions=np.zeros_like(exp.attributions))
    fig = plot_explanation(exp)
    assert band_images(fig)[0].get_clim() == (0.0, 1.0)
    render(fig)


def test_non_finite_values_do_not_break_the_scale():
    exp = make_explanation(signed=False)
    attributions = exp.attributions.copy()
    attributions[0, 1, :5] = np.nan
    fig = plot_explanation(replace(exp, attributions=attributions))
    assert band_images(fig)[0].get_clim()[1] == pytest.approx(np.nanmax(attributions[0]))
    render(fig)


def test_nan_is_drawn_in_the_absent_colour():
    from matplotlib.colors import to_rgb

    from chronolens.plot._common import ABSENT_COLOUR

    x = np.zeros((1, 1, 40), np.float32)
    attributions = np.ones((1, 1, 40), np.float32)
    attributions[0, 0, 30:] = np.nan  # padding of a shorter series
    exp = Explanation(
        x=x, attributions=attributions, target=np.array([0]), scores=np.zeros((1, 2)), method="s"
    )
    fig = plot_explanation(exp, figsize=(8, 2))
    rgba = render(fig)
    absent = np.round(np.array(to_rgb(ABSENT_COLOUR)) * 255).astype(int)
    assert np.abs(pixel(fig, rgba, fig.axes[0], 35, 0.2) - absent).sum() <= 6
    assert np.abs(pixel(fig, rgba, fig.axes[0], 10, 0.2) - absent).sum() > 100


def test_shared_map_draws_the_same_band_behind_every_channel():
    exp = make_explanation(per_channel=False)
    fig = plot_explanation(exp, 1)
    images = band_images(fig)
    assert len(images) == C
    for image in images:
        np.testing.assert_array_equal(image.get_array()[0], exp.attributions[1, 0])
    assert "shared" in fig.get_suptitle()


def test_planted_attribution_peak_is_coloured_under_its_sample():
    t, spike = 40, 23
    x = np.zeros((1, 2, t), np.float32)
    attributions = np.zeros((1, 2, t), np.float32)
    attributions[0, 1, spike] = 5.0
    attributions[0, 0, 5] = -1.0  # signed map: zero is the middle (pale) colour
    exp = Explanation(
        x=x, attributions=attributions, target=np.array([0]), scores=np.zeros((1, 2)), method="s"
    )
    fig = plot_explanation(exp, figsize=(8, 3))
    rgba = render(fig)
    ax = fig.axes[1]
    peak = pixel(fig, rgba, ax, spike, 0.2)
    for neighbour in (spike - 1, spike + 1, 2):
        quiet = pixel(fig, rgba, ax, neighbour, 0.2)
        assert np.abs(peak - quiet).sum() > 100, (neighbour, peak, quiet)
    assert peak[0] > peak[2] + 60  # positive end of RdBu_r is red
    # channel 0's row: the same time point carries no attribution there
    assert np.abs(pixel(fig, rgba, fig.axes[0], spike, 0.2) - peak).sum() > 100


def test_narrow_peak_in_a_long_series_stays_visible():
    t = 5000
    attributions = np.zeros((1, 1, t), np.float32)
    attributions[0, 0, 2503] = 1.0
    exp = Explanation(
        x=np.zeros((1, 1, t), np.float32),
        attributions=attributions,
        target=np.array([0]),
        scores=np.zeros((1, 2)),
        method="s",
    )
    fig = plot_explanation(exp, figsize=(6, 2))
    rgba = render(fig)
    ax = fig.axes[0]
    assert pixel(fig, rgba, ax, 2503, 0.2)[1] < 200  # Reds: the peak is dark, not white
    assert pixel(fig, rgba, ax, 1000, 0.2)[1] > 240


def test_channel_names_are_the_row_labels():
    names = ("acc_x", "acc_y", "<b>gyro</b>", "$x_1$")
    fig = plot_explanation(make_explanation(channel_names=names))
    assert [ax.get_ylabel() for ax in fig.axes[:C]] == list(names)
    render(fig)  # "$x_1$" is shown as text, not parsed as mathtext


def test_default_channel_labels():
    fig = plot_explanation(make_explanation())
    assert fig.axes[0].get_ylabel() == "channel 0"


def test_title_has_method_layer_case_class_and_probability():
    scores = np.array([[0.0, np.log(3.0)], [0.0, 0.0], [1.0, 1.0]])
    exp = make_explanation(
        method="grad_cam",
        extras={"layer": "blocks.2"},
        class_names=("rest", "walk"),
        target=np.array([1, 0, 1]),
        scores=scores,
    )
    title = plot_explanation(exp, 0).get_suptitle()
    assert "grad_cam" in title and "blocks.2" in title and "case 0" in title
    assert "walk" in title and "p = 0.750" in title  # softmax of the logits


def test_title_uses_probabilities_as_given():
    scores = np.array([[0.2, 0.8], [0.5, 0.5], [0.1, 0.9]])
    title = plot_explanation(make_explanation(scores=scores), 2).get_suptitle()
    assert "class 0" in title and "p = 0.100" in title


def test_title_shows_the_score_for_callable_targets():
    exp = make_explanation(target=None, scores=np.array([[1.5], [2.5], [-3.0]]))
    title = plot_explanation(exp, 1).get_suptitle()
    assert "score = 2.5" in title


def test_channels_selects_a_subset_in_order():
    exp = make_explanation(channel_names=("a", "b", "c", "d"))
    fig = plot_explanation(exp, channels=[3, "b"])
    assert [ax.get_ylabel() for ax in fig.axes[:2]] == ["d", "b"]
    np.testing.assert_array_equal(band_images(fig)[0].get_array()[0], exp.attributions[0, 3])


def test_many_channels_keep_the_largest_total_attribution():
    c = 20
    exp = make_explanation(n=1, c=c, t=30)
    attributions = np.full((1, c, 30), 0.01, np.float32)
    strongest = [2, 7, 11, 19]
    attributions[0, strongest] = 1.0
    exp = replace(exp, attributions=attributions)
    fig = plot_explanation(exp, max_channels=4)
    assert len(band_images(fig)) == 4
    assert [ax.get_ylabel() for ax in fig.axes[:4]] == [f"channel {i}" for i in strongest]
    assert "4 of 20 channels" in fig.get_suptitle()


@pytest.mark.parametrize(
    ("case", "error"),
    [(3, IndexError), (-4, IndexError), (1.0, TypeError), ("0", TypeError), (True, TypeError)],
)
def test_bad_case_is_rejected(case, error):
    with pytest.raises(error, match="case"):
        plot_explanation(make_explanation(), case)


def test_negative_case_counts_from_the_end():
    assert "case 2" in plot_explanation(make_explanation(), -1).get_suptitle()


@pytest.mark.parametrize(
    ("channels", "error"),
    [([], ValueError), ([0, 0], ValueError), ([4], IndexError), (["nope"], ValueError)],
)
def test_bad_channels_are_rejected(channels, error):
    with pytest.raises(error):
        plot_explanation(make_explanation(), channels=channels)


def test_plots_from_threads_do_not_interfere():
    figures: list = []
    errors: list = []

    def work(seed: int) -> None:
        try:
            fig = plot_explanation(make_explanation(seed=seed, n=1, t=30))
            render(fig)
            figures.append(fig)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(figures) == 3


# ---------------------------------------------------------------------- plot_comparison
def test_comparison_has_one_column_per_explanation_with_its_own_scale():
    signed = make_explanation(method="saliency")
    positive = make_explanation(method="grad_cam", signed=False, extras={"layer": "conv"})
    positive = replace(positive, x=signed.x)
    fig = plot_comparison([signed, positive], 1)
    assert isinstance(fig, Figure)
    images = band_images(fig)
    assert len(images) == 2 * C
    columns = [{im.get_clim() for ax in fig.axes[j::2][:C] for im in ax.images} for j in (0, 1)]
    assert all(len(limits) == 1 for limits in columns)
    (low0, high0), (low1, high1) = columns[0].pop(), columns[1].pop()
    assert low0 == pytest.approx(-high0) and low1 == 0.0
    assert high1 == pytest.approx(float(positive.attributions[1].max()))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("saliency") and titles[1].startswith("grad_cam (layer conv)")
    assert sum(ax.get_xlabel() == "attribution" for ax in fig.axes) == 2  # colorbars


def test_comparison_mapping_keys_are_titles_and_channels_subset():
    a, b = make_explanation(), make_explanation(seed=0, method="other")
    fig = plot_comparison({"first": a, "second": b}, channels=[1, 2])
    assert len(band_images(fig)) == 4
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["first", "second"]


def test_comparison_rejects_different_x():
    with pytest.raises(ValueError, match="same x"):
        plot_comparison([make_explanation(), make_explanation(t=T + 1)])
    with pytest.raises(ValueError, match="same x"):
        plot_comparison([make_explanation(seed=0), make_explanation(seed=1)])
    with pytest.raises(ValueError, match="empty"):
        plot_comparison([])


# ---------------------------------------------------------------------- HTML
def test_html_has_summary_and_embedded_png():
    exp = make_explanation(method="grad_cam", extras={"layer": "conv3"})
    text = exp._repr_html_()
    assert text == explanation_html(exp)
    for word in ("grad_cam", "conv3", "n_cases", "per_channel"):
        assert word in text
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert match is not None
    assert base64.b64decode(match.group(1)).startswith(b"\x89PNG\r\n\x1a\n")


def test_html_escapes_user_strings():
    evil = "<script>alert(1)</script>"
    exp = make_explanation(
        method="<b>m</b>",
        channel_names=(evil, "b", "c", "d"),
        class_names=("x&y", "z"),
        extras={"layer": '"><img src=x onerror=alert(1)>'},
    )
    text = explanation_html(exp)
    assert "<script>" not in text and "<b>m</b>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "x&amp;y" in text


def test_cam_edges_beyond_the_first_and_last_receptive_field_centre_are_hatched():
    """tiny_conv_model: conv(k5, 'same') -> pool(2) -> conv(k3, 'same'): centres 0.5 + 2j."""
    import chronolens as cl
    from chronolens.testing import tiny_conv_model

    model = tiny_conv_model(n_channels=2, n_classes=2)
    x = np.random.default_rng(0).normal(size=(1, 2, 40)).astype(np.float32)
    cam = cl.explain(model, x, "grad_cam", layer="conv2")
    np.testing.assert_allclose(cam.extras["layer_centers"], 0.5 + 2 * np.arange(20))

    def hatched_spans(figure):
        spans = set()
        for ax in figure.axes:
            for patch in ax.patches:
                if patch.get_hatch() == "///":
                    box = patch.get_path().get_extents(patch.get_patch_transform())
                    spans.add((round(box.x0, 6), round(box.x1, 6)))
        return spans

    expected = {(-0.5, 0.5), (38.5, 39.5)}
    assert hatched_spans(plot_explanation(cam, 0)) == expected
    assert hatched_spans(plot_comparison({"cam": cam}, 0)) == expected
    assert hatched_spans(plot_explanation(cl.explain(model, x, "saliency"), 0)) == set()


def test_unequal_length_cam_hatches_only_the_leading_edge():
    """The recorded centres are one length group's: the trailing edge of the others is unknown."""
    import chronolens as cl
    from chronolens.testing import tiny_conv_model

    model = tiny_conv_model(n_channels=2, n_classes=2)
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(2, t)).astype(np.float32) for t in (40, 30)]
    cam = cl.explain(model, x, "grad_cam", layer="conv2")
    spans = set()
    for ax in plot_explanation(cam, 0).axes:
        for patch in ax.patches:
            if patch.get_hatch() == "///":
                box = patch.get_path().get_extents(patch.get_patch_transform())
                spans.add((round(box.x0, 6), round(box.x1, 6)))
    assert spans == {(-0.5, 0.5)}  # first centre 0.5 (conv 'same', pool 2) for every length
