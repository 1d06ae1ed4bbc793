"""Unequal-length series: padding, per-length explanation, NaN on the padding, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens._lengths import is_ragged, pad_series, valid_mask
from chronolens.explanation import Explanation
from chronolens.testing import gap_model, tiny_conv_model

LENGTHS = (9, 14, 9, 20, 11)


def _ragged(seed: int = 0, channels: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(channels, t)).astype(np.float32) for t in LENGTHS]


def test_padding_scheme_is_at_the_end_with_pad_value() -> None:
    cases = _ragged()
    padded, lengths = pad_series(cases, pad_value=-2.5)
    assert padded.shape == (5, 3, 20) and padded.dtype == np.float32
    np.testing.assert_array_equal(lengths, LENGTHS)
    for i, case in enumerate(cases):
        np.testing.assert_array_equal(padded[i, :, : LENGTHS[i]], case)
        assert (padded[i, :, LENGTHS[i] :] == -2.5).all()


def test_channels_last_items() -> None:
    cases = _ragged()
    padded, lengths = pad_series([c.T for c in cases], "nlc")
    reference, _ = pad_series(cases)
    np.testing.assert_array_equal(padded, reference)
    np.testing.assert_array_equal(lengths, LENGTHS)


@pytest.mark.parametrize(
    ("cases", "message"),
    [
        ([np.zeros((3, 5)), np.zeros((4, 7))], "same number of channels"),
        ([np.zeros(5), np.zeros(7)], "item\\[None, :\\]"),
        ([np.zeros((3, 5)), np.zeros((3, 0))], "case 1 is empty"),
    ],
)
def test_errors_name_the_problem(cases: list[np.ndarray], message: str) -> None:
    assert is_ragged(cases)
    with pytest.raises(ValueError, match=message):
        cl.explain(tiny_conv_model(3), cases, "saliency")


def test_equal_shapes_are_not_ragged() -> None:
    assert not is_ragged([np.zeros((3, 5)), np.zeros((3, 5))])
    assert not is_ragged(np.zeros((2, 3, 5)))


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("saliency", {}),
        ("integrated_gradients", {"n_steps": 16}),
        ("occlusion", {"window": 3, "stride": 1}),
        ("feature_ablation", {"n_segments": 4}),
        ("grad_cam", {}),
    ],
)
def test_each_case_is_explained_as_if_alone(method: str, params: dict) -> None:
    """For a length-agnostic model the valid part equals explaining the case alone, unpadded."""
    model = tiny_conv_model(3, 2)
    cases = _ragged()
    exp = cl.explain(model, cases, method, target=1, **params)
    assert exp.x.shape == (5, 3, 20)
    np.testing.assert_array_equal(exp.lengths, LENGTHS)
    for i, case in enumerate(cases):
        alone = cl.explain(model, case[None], method, target=1, **params)
        x_i, a_i = exp.unpadded(i)
        np.testing.assert_array_equal(x_i, case)
        np.testing.assert_allclose(a_i, alone.attributions[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(exp.scores[i], alone.scores[0], rtol=1e-5, atol=1e-6)
    padding = ~valid_mask(exp.lengths, 20)
    nan = np.isnan(exp.attributions)
    np.testing.assert_array_equal(nan, np.broadcast_to(padding[:, None], nan.shape))


def test_shapley_keeps_one_seed_and_per_case_targets() -> None:
    model = tiny_conv_model(3, 2)
    cases = _ragged()
    targets = [0, 1, 1, 0, 1]
    exp = cl.explain(model, cases, "shapley", target=targets, seed=3, n_samples=8, n_segments=4)
    np.testing.assert_array_equal(exp.target, targets)
    again = cl.explain(
        model, cases, "shapley", target=targets, seed=exp.params["seed"], n_samples=8, n_segments=4
    )
    np.testing.assert_array_equal(exp.attributions, again.attributions)
    alone = cl.explain(
        model, cases[3][None], "shapley", target=0, seed=3, n_samples=8, n_segments=4
    )
    np.testing.assert_allclose(exp.unpadded(3)[1], alone.attributions[0], rtol=1e-5, atol=1e-6)


class _Spy(nn.Module):
    """A length-agnostic model that records the width of every input it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = gap_model(3, 2)
        self.widths: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.widths.append(int(x.shape[-1]))
        return self.inner(x)


def test_model_never_sees_padding_by_default() -> None:
    spy = _Spy()
    cl.explain(spy, _ragged(), "occlusion", window=3, stride=1)
    assert spy.widths and set(spy.widths) <= set(LENGTHS)


def test_pad_value_pads_before_the_model() -> None:
    """With a number, the model sees the padded array; a Flatten head needs one length."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 20, 2)).eval()
    cases = _ragged()
    exp = cl.explain(model, cases, "saliency", pad_value=-1.0, target=0)
    padded, _ = pad_series(cases, pad_value=-1.0)
    np.testing.assert_array_equal(exp.x, padded)
    with torch.no_grad():
        np.testing.assert_allclose(exp.scores, model(torch.from_numpy(padded)).numpy(), rtol=1e-6)
    weight = np.abs(model[1].weight.detach().numpy()[0].reshape(3, 20))  # |gradient|, linear
    for i, t in enumerate(LENGTHS):
        np.testing.assert_allclose(exp.attributions[i, :, :t], weight[:, :t], rtol=1e-6)
        assert np.isnan(exp.attributions[i, :, t:]).all()


def test_lengths_survive_slicing_save_load_and_xarray(tmp_path) -> None:
    exp = cl.explain(tiny_conv_model(3), _ragged(), "saliency")
    part = exp[[3, 0]]
    np.testing.assert_array_equal(part.lengths, [20, 9])
    np.testing.assert_array_equal(exp[1].lengths, [14])
    path = tmp_path / "exp.npz"
    exp.save(path)
    loaded = Explanation.load(path)
    np.testing.assert_array_equal(loaded.lengths, LENGTHS)
    np.testing.assert_array_equal(loaded.attributions, exp.attributions)
    equal = cl.explain(tiny_conv_model(3), np.zeros((2, 3, 10), np.float32), "saliency")
    assert equal.lengths is None
    equal.save(path)
    assert Explanation.load(path).lengths is None
    xr = pytest.importorskip("xarray")
    assert isinstance(exp.to_xarray(), xr.Dataset)
    np.testing.assert_array_equal(exp.to_xarray()["lengths"].values, LENGTHS)


def test_bad_lengths_are_refused() -> None:
    exp = cl.explain(tiny_conv_model(3), _ragged(), "saliency")
    with pytest.raises(ValueError, match="lengths"):
        Explanation(**{**exp.__dict__, "lengths": np.array([1, 2, 3, 4, 99])})


def test_japanese_vowels_end_to_end() -> None:
    datasets = pytest.importorskip("aeon.datasets")
    try:
        x, y = datasets.load_classification("JapaneseVowels", split="train")
    except Exception as error:  # pragma: no cover - offline without the cached set
        pytest.skip(f"JapaneseVowels not available: {error}")
    assert isinstance(x, list) and len({case.shape[1] for case in x}) > 1
    padded, lengths = pad_series(x)
    model = gap_model(12, 9, filters=16)
    cl.zoo.fit(model, padded, y.astype(int) - 1, epochs=3, progress=False)
    cases = x[:40]
    exp = cl.explain(model, cases, "occlusion", window=3, stride=1)
    assert exp.x.shape == (40, 12, int(lengths[:40].max()))
    np.testing.assert_array_equal(exp.lengths, [case.shape[1] for case in cases])
    padding = ~valid_mask(exp.lengths, exp.x.shape[2])
    assert np.isnan(exp.attributions[padding.nonzero()[0], :, padding.nonzero()[1]]).all()
    assert np.isfinite(
        exp.attributions[valid_mask(exp.lengths, exp.x.shape[2])[:, None].repeat(12, 1)]
    ).all()
    cam = cl.explain(model, cases, "grad_cam")
    assert cam.attributions.shape == (40, 1, exp.x.shape[2])


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_curves_ignore_the_padding(kind: str) -> None:
    """Each case's curve equals the curve of that case explained alone, at its own length."""
    from chronolens import metrics

    model = tiny_conv_model(3, 2)
    cases = _ragged()
    exp = cl.explain(model, cases, "saliency", target=1)
    curve = getattr(metrics, kind)(model, exp, n_steps=5, granularity="window", window=3)
    assert np.isfinite(curve.scores).all() and curve.scores.shape == (5, 6)
    for i, case in enumerate(cases):
        alone = cl.explain(model, case[None], "saliency", target=1)
        ref = getattr(metrics, kind)(model, alone, n_steps=5, granularity="window", window=3)
        np.testing.assert_allclose(curve.scores[i], ref.scores[0], rtol=1e-5, atol=1e-6)
        if LENGTHS.count(LENGTHS[i]) == 1:  # the random ranks are drawn per group of cases
            np.testing.assert_allclose(curve.random_scores[i], ref.random_scores[0], rtol=1e-5)


def test_by_length_parts_have_no_padding() -> None:
    exp = cl.explain(tiny_conv_model(3), _ragged(), "saliency")
    parts = exp.by_length()
    assert sorted(len(index) for index, _ in parts) == [1, 1, 1, 2]
    for index, part in parts:
        assert part.lengths is None and not np.isnan(part.attributions).any()
        assert part.x.shape[2] == LENGTHS[index[0]]


def test_keras_masking_model_with_pad_value() -> None:
    """A Masking layer ignores the padding when it is padded with the mask value."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None, 3)),
            keras.layers.Masking(mask_value=-9.0),
            keras.layers.LSTM(4),
            keras.layers.Dense(2),
        ]
    )
    cases = _ragged()
    exp = cl.explain(model, cases, "saliency", pad_value=-9.0, target=0)
    assert (exp.x[0, :, 9:] == -9.0).all()
    for i in (0, 3):
        alone = cl.explain(model, cases[i][None], "saliency", target=0)
        np.testing.assert_allclose(exp.scores[i], alone.scores[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(exp.unpadded(i)[1], alone.attributions[0], rtol=1e-4, atol=1e-6)
    padding = ~valid_mask(exp.lengths, 20)
    np.testing.assert_array_equal(np.isnan(exp.attributions).any(axis=1), padding)


def test_localization_scores_only_valid_points() -> None:
    """Each case scores as when explained alone; ragged and padded masks agree."""
    from chronolens import metrics

    model = tiny_conv_model(3, 2)
    cases = _ragged()
    exp = cl.explain(model, cases, "saliency", target=1)
    rng = np.random.default_rng(1)
    masks = [rng.random(case.shape) < 0.3 for case in cases]
    padded_mask = pad_series([m.astype(np.float32) for m in masks])[0] > 0
    for name in ("average_precision_score", "roc_auc_score", "relevance_mass_score"):
        score = getattr(metrics, name)
        ragged, padded = score(exp, masks), score(exp, padded_mask)
        np.testing.assert_array_equal(ragged, padded)
        for i, case in enumerate(cases):
            alone = cl.explain(model, case[None], "saliency", target=1)
            np.testing.assert_allclose(ragged[i], score(alone, masks[i][None])[0], rtol=1e-6)
    aup, aur = metrics.aup_aur(exp, masks)
    ref = metrics.aup_aur(cl.explain(model, cases[3][None], "saliency", target=1), masks[3][None])
    np.testing.assert_allclose([aup[3], aur[3]], [ref.aup[0], ref.aur[0]], rtol=1e-6)


class _FlatSpy(nn.Module):
    """A fixed-length model (Flatten head) that records every row it sees."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 20, 2))
        self.rows: list[np.ndarray] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows.append(x.detach().numpy().copy())
        return self.head(x)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("occlusion", {"window": 3, "stride": 1}),
        ("occlusion", {"window": 3, "stride": 1, "baseline": "mean"}),
        ("feature_ablation", {"n_segments": 4}),
        ("shapley", {"n_samples": 8, "n_segments": 4, "seed": 0}),
        ("integrated_gradients", {"n_steps": 4}),
    ],
)
def test_padding_is_never_perturbed_with_pad_value(method: str, params: dict) -> None:
    """With pad_value=, every row the model sees holds pad_value exactly on one case's padding."""
    spy = _FlatSpy().eval()
    cases = _ragged()
    exp = cl.explain(spy, cases, method, pad_value=-1.0, target=0, **params)
    allowed = {3 * (20 - t) for t in LENGTHS}
    rows = np.concatenate(spy.rows)
    assert len(rows) > len(cases)
    counts = (rows == -1.0).sum(axis=(1, 2))
    assert set(counts.tolist()) <= allowed
    trailing = [(row[:, 20 - count // 3 :] == -1.0).all() for row, count in zip(rows, counts)]
    assert all(trailing)
    assert np.isnan(exp.attributions[0, :, 9:]).all()


def test_evaluate_on_unequal_lengths_scores_each_case_as_if_alone():
    """Reference: evaluate() on each case alone; the sanity check on the first length's cases."""
    from chronolens.metrics import evaluate, model_randomization

    rng = np.random.default_rng(4)
    model = gap_model(3, 2)
    lengths = [30, 30, 24, 30, 24]
    x = [rng.normal(size=(3, t)).astype(np.float32) for t in lengths]
    masks = [np.zeros((3, t), bool) for t in lengths]
    for m in masks:
        m[0, 5:12] = True
    got = evaluate(model, x, ["saliency"], mask=masks, n_steps=5, sanity_cases=2).rows[0]
    alone = [
        evaluate(model, xi[None], ["saliency"], mask=mi[None], n_steps=5, sanity=False).rows[0]
        for xi, mi in zip(x, masks)
    ]
    np.testing.assert_allclose(
        got.deletion_auc, np.mean([r.deletion_auc for r in alone]), rtol=1e-5
    )
    np.testing.assert_allclose(
        got.insertion_auc, np.mean([r.insertion_auc for r in alone]), rtol=1e-5
    )
    np.testing.assert_allclose(
        got.average_precision, np.mean([r.average_precision for r in alone]), rtol=1e-5
    )
    first_length = np.stack([x[0], x[1]])  # the first two cases of the first case's length
    check = model_randomization(model, first_length, "saliency", seed=0)
    assert got.sanity == f"{'pass' if check.passed else 'FAIL'} ({check.mean_absolute[-1]:.2f})"


def test_figures_draw_no_series_line_over_the_padding() -> None:
    import matplotlib

    matplotlib.use("Agg")
    cases = _ragged()
    exp = cl.explain(tiny_conv_model(3), cases, "saliency")
    fig = exp.plot(case=0)  # 9 of 20 points
    lines = [line for ax in fig.axes for line in ax.get_lines() if len(line.get_xdata()) == 20]
    assert len(lines) == 3  # one series line per channel
    for channel, line in enumerate(lines):
        y = np.asarray(line.get_ydata(), dtype=np.float64)
        np.testing.assert_array_equal(y[:9], cases[0][channel])  # the real points, as given
        assert np.isnan(y[9:]).all()  # matplotlib leaves a gap: no flat line on padding
    comparison = cl.plot.plot_comparison([exp, exp], case=0)
    ys = [np.asarray(ln.get_ydata()) for ax in comparison.axes for ln in ax.get_lines()]
    assert ys and all(np.isnan(y[9:]).all() for y in ys if len(y) == 20)
