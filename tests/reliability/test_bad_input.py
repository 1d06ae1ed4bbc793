"""Bad input ends in the right answer or one clear error naming the fix, never a wrong map."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens.testing import assert_model_unchanged, model_state, tiny_conv_model


@pytest.fixture
def model():
    return tiny_conv_model(n_channels=3, n_classes=3, seed=1)


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(4, 3, 40)).astype(np.float32)


# ----------------------------------------------------------------------------- targets
@pytest.mark.parametrize("target", [1, 1.0, np.float64(1), np.int64(1), torch.tensor(1)])
def test_whole_number_targets_mean_that_class(model, x, target):
    expected = cl.explain(model, x, "saliency", target=[1, 1, 1, 1]).attributions
    np.testing.assert_array_equal(
        cl.explain(model, x, "saliency", target=target).attributions, expected
    )


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        (True, TypeError, "a bool"),
        ("1", TypeError, "the string '1'.*target=1"),
        (float("nan"), ValueError, "whole class index in 0..2"),
        (1.5, ValueError, "whole class index"),
        (2**63, ValueError, "9223372036854775808 is out of range.*0..2"),
        (2**70, ValueError, "is out of range"),
        (-1, ValueError, "-1 is out of range"),
        ([0, 1], ValueError, "2 classes for 4 cases"),
        ([0.5, 1, 1, 1], TypeError, "dtype float64 with values that are not whole"),
        ([True, False, True, True], TypeError, "dtype bool"),
    ],
)
def test_bad_targets_are_named(model, x, target, error, match):
    with pytest.raises(error, match=match):
        cl.explain(model, x, "saliency", target=target)


def test_seed_beyond_the_range_is_named(model, x):
    with pytest.raises(ValueError, match="`seed` must be at most 9223372036854775807"):
        cl.explain(model, x, "smoothgrad", seed=2**64)


def test_a_callable_target_returning_numpy_is_not_blamed_on_the_model(model, x):
    with pytest.raises(TypeError, match="returned a NumPy array, which carries no gradient"):
        cl.explain(model, x, "saliency", target=lambda out: out.detach().numpy()[:, 0])


# ----------------------------------------------------------------------------- binary heads
class Logit(nn.Module):
    """logit = <w, x> + b: a single-column binary head with a closed-form gradient."""

    def __init__(self, probability=False):
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 20, generator=torch.Generator().manual_seed(0)))
        self.probability = probability

    def forward(self, x):
        logit = (x * self.w).sum(dim=(1, 2))[:, None] + 0.1
        return torch.sigmoid(logit) if self.probability else logit


def test_binary_logit_head_explains_the_class_a_user_means():
    model = Logit()
    x = np.random.default_rng(1).normal(size=(6, 3, 20)).astype(np.float32)
    w = model.w.detach().numpy()
    logits = (x * w).sum(axis=(1, 2)) + 0.1
    exp = cl.explain(model, x, "saliency", abs=False)
    np.testing.assert_array_equal(exp.target, (logits > 0).astype(int))  # not class 0 for all
    for case, cls in enumerate(exp.target):
        np.testing.assert_allclose(exp.attributions[case], w if cls == 1 else -w, rtol=1e-6)
    one = cl.explain(model, x, "saliency", target=1, abs=False).attributions
    zero = cl.explain(model, x, "saliency", target=0, abs=False).attributions
    np.testing.assert_allclose(one, np.broadcast_to(w, x.shape), rtol=1e-6)
    np.testing.assert_allclose(zero, -one, rtol=1e-6)
    with pytest.raises(ValueError, match="0..1"):
        cl.explain(model, x, "saliency", target=2)


def test_binary_probability_head_uses_one_minus_p_for_class_zero():
    model = Logit(probability=True)
    x = np.random.default_rng(2).normal(size=(5, 3, 20)).astype(np.float32) * 0.05
    deleted = cl.explain(model, x, "occlusion", target=0, window=5, stride=5)
    p = torch.sigmoid(torch.from_numpy(x * model.w.detach().numpy()).sum(dim=(1, 2)) + 0.1)
    # occlusion of everything at once is f(x) - f(0); for class 0 the score is 1 - p
    full = cl.explain(model, x, "occlusion", target=0, window=20, stride=20, channels="all")
    expected = (1 - p) - (1 - torch.sigmoid(torch.tensor(0.1)))
    np.testing.assert_allclose(full.attributions[:, 0, 0], expected.numpy(), rtol=1e-4, atol=1e-6)
    assert deleted.attributions.shape == x.shape


# ----------------------------------------------------------------------------- black boxes
def test_a_black_box_that_writes_into_its_input_changes_nothing(x):
    def clean(series):
        return np.stack([series[:, 0].mean(1), series[:, 1].mean(1)], axis=1)

    def vandal(series):
        result = clean(series)
        series[:] = 0.0  # writes into what it was given
        return result

    x_before = x.copy()
    expected = cl.explain(clean, x, "occlusion", window=8, stride=4)
    got = cl.explain(vandal, x, "occlusion", window=8, stride=4)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(got.x, x_before)
    np.testing.assert_array_equal(got.attributions, expected.attributions)


def test_hard_label_scores_are_detected(x):
    def hard(series):
        label = (series[:, 0].mean(1) > 0).astype(np.float32)
        return np.stack([1 - label, label], axis=1)

    with pytest.warns(UserWarning, match="hard labels.*0 or 1"):
        cl.explain(hard, x, "occlusion", window=8, stride=4)


# ----------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion", "channel_grad_cam"])
def test_non_finite_scalar_baselines_are_refused(model, x, method, value):
    with pytest.raises(ValueError, match="`baseline` must be finite"):
        cl.explain(model, x, method, baseline=value)


def test_occlusion_stride_larger_than_window_is_refused(model, x):
    with pytest.raises(
        ValueError, match=r"`stride`=10 is larger than `window`=5.*stride <= window"
    ):
        cl.explain(model, x, "occlusion", window=5, stride=10)
    with pytest.raises(ValueError, match="larger than `window`"):
        cl.explain(model, x, "occlusion", window=15, stride=100)


def test_shapley_with_fewer_samples_than_players_is_refused(x):
    def box(series):
        return np.stack([series.mean((1, 2)), -series.mean((1, 2))], axis=1)

    with pytest.raises(ValueError, match=r"`n_samples`=2 coalitions cannot estimate 30"):
        cl.explain(box, x, "shapley", n_samples=2)


def test_square_data_without_a_layout_warns(model):
    square = np.random.default_rng(0).normal(size=(2, 3, 3)).astype(np.float32)
    small = tiny_conv_model(n_channels=3, n_classes=2, seed=0)
    with pytest.warns(UserWarning, match="as many channels as time points.*layout="):
        cl.explain(
            lambda s: np.stack([s.mean((1, 2))] * 2, 1), square, "occlusion", window=1, stride=1
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cl.explain(
            lambda s: np.stack([s.mean((1, 2))] * 2, 1),
            square,
            "occlusion",
            window=1,
            stride=1,
            layout="ncl",
        )
    assert small is not None


# ----------------------------------------------------------------------------- the user's errors
class Picky(nn.Module):
    def forward(self, x):
        raise KeyError("sensor_7")


def test_a_model_that_fails_shows_its_own_error_chained(x):
    with pytest.raises(ValueError, match=r"The model failed on the data read .*: KeyError") as info:
        cl.explain(Picky(), x, "saliency")
    assert isinstance(info.value.__cause__, KeyError)  # the user's own traceback is kept


def test_a_layout_hint_only_when_the_shapes_point_to_it(model):
    swapped = np.random.default_rng(0).normal(size=(2, 40, 3)).astype(np.float32)
    with pytest.raises(
        ValueError, match="expects 3 channels: the data looks stored the other way.*layout='nlc'"
    ):
        cl.explain(model, swapped, "saliency")


def test_the_model_is_untouched_after_each_failure(model, x):
    before = model_state(model)
    for kwargs in ({"target": 7}, {"baseline": float("nan")}, {"window": 5, "stride": 10}):
        with pytest.raises(ValueError):
            cl.explain(model, x, "occlusion", **kwargs)
        assert_model_unchanged(model, before)


# ----------------------------------------------------------------------------- saved explanations
def saved(model, x, tmp_path):
    path = tmp_path / "exp.npz"
    cl.explain(model, x, "integrated_gradients", n_steps=4).save(path)
    return path


def tamper(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(changes)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"scores": np.zeros((2, 3), np.float32)}, r"`scores` must have one row per case"),
        ({"target": np.zeros(9, np.int64)}, r"`target` must hold one class per case"),
        ({"meta": np.array("{not json")}, "JSONDecodeError"),
        ({"meta": np.array('{"format": "chronolens.Explanation/1"}')}, "KeyError"),
        ({"meta": np.array("[" * 50000 + "]" * 50000)}, "RecursionError|not a valid"),
        ({"x": np.zeros((4, 40), np.float32)}, "shape \\(n_cases, channels, n_timepoints\\)"),
    ],
)
def test_a_tampered_explanation_file_is_refused_on_load(model, x, tmp_path, change, match):
    path = tamper(saved(model, x, tmp_path), **change)
    with pytest.raises(ValueError, match=f"not a valid chronolens Explanation file.*({match})"):
        cl.Explanation.load(path)


def test_an_untampered_file_round_trips(model, x, tmp_path):
    path = saved(model, x, tmp_path)
    loaded = cl.Explanation.load(path)
    assert loaded.attributions.shape == x.shape and loaded.target.shape == (4,)


# ----------------------------------------------------------------------------- files and flags
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a,b\n1,2\n3\n", "line 3 has 1, the first has 2"),
        ("1,2\n3,4,5\n", "line 2 has 3, the first has 2"),
        ("a,b,c\n1,2\n", "line 2 has 2, the first has 3"),
        ("a,b\n", "a header row but no values"),
        ("", "is empty"),
        ("1,2\n3,x\n", "not a number"),
    ],
)
def test_malformed_csv_gets_the_right_reason(tmp_path, text, match):
    from chronolens.files import load_series

    path = tmp_path / "series.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_series(path)


def test_cli_target_that_is_not_a_number_names_the_flag(tmp_path, capsys):
    from chronolens.cli import main

    model = tmp_path / "m.pt"
    torch.jit.script(tiny_conv_model(n_channels=3, n_classes=3)).save(str(model))
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 40), np.float32))
    code = main(
        [
            "explain",
            str(model),
            str(tmp_path / "x.npy"),
            "--method",
            "saliency",
            "--target",
            "abc",
            "--out",
            str(tmp_path / "e.npz"),
        ]
    )
    assert code == 2
    assert "--target 'abc' is not a class index: pass an integer (--target 1)" in (
        capsys.readouterr().err
    )


def test_an_edited_layer_is_never_served_stale_receptive_fields():
    # grad_cam after an in-place edit equals grad_cam of a freshly built model of the new shape
    def build(stride):
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv1d(3, 4, 5, stride=stride),
            nn.ReLU(),
            nn.Conv1d(4, 4, 3),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(4, 2),
        ).eval()

    x = np.random.default_rng(0).normal(size=(2, 3, 40)).astype(np.float32)
    model = build(1)
    cl.explain(model, x, "grad_cam")  # fills the cache for the stride-1 model
    model[0].stride = (2,)  # the user edits the layer in place
    edited = cl.explain(model, x, "grad_cam")
    fresh = cl.explain(build(2), x, "grad_cam")
    np.testing.assert_allclose(edited.extras["layer_centers"], fresh.extras["layer_centers"])
    np.testing.assert_allclose(edited.attributions, fresh.attributions, rtol=1e-5, atol=1e-6)


def test_values_beyond_float32_are_named_as_such():
    with pytest.raises(ValueError, match="beyond float32's range.*Rescale"):
        cl.explain(
            tiny_conv_model(n_channels=3, n_classes=3), np.full((1, 3, 40), 1e39), "saliency"
        )


def test_a_meta_device_model_is_a_clear_error(x):
    model = tiny_conv_model(n_channels=3, n_classes=3).to("meta")
    with pytest.raises(ValueError, match="meta device.*Load its weights first"):
        cl.explain(model, x, "saliency")


@pytest.mark.parametrize("method", ["saliency", "grad_cam", "occlusion"])
def test_a_bfloat16_model_is_explained_in_its_own_precision(x, method):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    reference = cl.explain(model, x, method, target=1).attributions
    low = cl.explain(model.to(torch.bfloat16), x, method, target=1).attributions
    assert low.dtype == np.float32
    # bf16 keeps about 3 significant digits, and gradients and score differences amplify its
    # rounding: the maps must agree in pattern with the float32 model's.
    assert np.corrcoef(low.ravel(), reference.ravel())[0, 1] > 0.95


def test_class_names_are_counted_the_same_way_everywhere(model, x, tmp_path):
    with pytest.raises(ValueError, match="`class_names` has 2 names for 3 classes"):
        cl.explain(model, x, "saliency", class_names=["a", "b"])
    with pytest.raises(ValueError, match="`class_names` has 2 names for 3 classes; pass exactly 3"):
        cl.report(
            model,
            x,
            class_names=["a", "b"],
            methods=["saliency"],
            out=tmp_path / "r.html",
            metric_cases=0,
            prototypes=False,
        )


def test_class_names_default_to_a_fitted_classifiers_classes(x):
    class Fitted:
        classes_ = np.array(["low", "high"])

        def predict_proba(self, series):
            p = 1 / (1 + np.exp(-series.mean(axis=(1, 2))))
            return np.stack([1 - p, p], axis=1)

    exp = cl.explain(Fitted(), x, "occlusion", window=8, stride=4)
    assert exp.class_names == ("low", "high")
