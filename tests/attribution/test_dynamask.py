"""Dynamask against planted ground truth, the objective written out by hand (closed forms for a
linear model, literal loops for the perturbation operators), one SGD step computed by hand,
and the area constraint's reference vector at convergence."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

import chronolens as cl
from chronolens.testing import assert_model_unchanged, model_state

C, T = 3, 40
WINDOW = slice(20, 32)  # 12 points of channel 1: 12 / 120 = a keep ratio of 0.1


def window_model():
    """Class 1 = 1.0 * sum of channel 1 over WINDOW + 0.25; class 0 reads channel 0 everywhere."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(C * T, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        weight = torch.zeros(C, T)
        weight[1, WINDOW] = 1.0
        model[1].weight[1] = weight.flatten()
        model[1].weight[0, :T] = 0.1
        model[1].bias.copy_(torch.tensor([0.0, 0.25]))
    return model.eval()


def window_series(n=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.3, size=(n, C, T))
    x[:, 1, WINDOW] += 2.0  # far from the channel's mean: fading it changes the score
    return x.astype(np.float32)


def truth():
    mask = np.zeros((C, T), dtype=bool)
    mask[1, WINDOW] = True
    return mask


def score(model, series):
    with torch.no_grad():
        return model(torch.as_tensor(series, dtype=torch.float32))[:, 1].numpy().astype(float)


def blur_loop(x, mask, sigma_max, eps=1e-7):
    """The paper's Gaussian blur, one point at a time."""
    out = np.zeros_like(x, dtype=float)
    for c in range(x.shape[0]):
        for t in range(x.shape[1]):
            sigma = sigma_max * (1 + eps - mask[c, t])
            w = np.array([np.exp(-((s - t) ** 2) / (2 * sigma**2)) for s in range(x.shape[1])])
            out[c, t] = (w * x[c]).sum() / (w.sum() + eps)
    return out


def window_loop(x, mask, window):
    out = np.zeros_like(x, dtype=float)
    for c in range(x.shape[0]):
        for t in range(x.shape[1]):
            lo, hi = max(0, t - window), min(x.shape[1], t + window + 1)
            average = x[c, lo:hi].sum() / (2 * window + 1)
            out[c, t] = average + mask[c, t] * (x[c, t] - average)
    return out


def perturb(name, x, mask):
    if name == "fade_moving_average":
        return mask * x + (1 - mask) * x.mean(-1, keepdims=True)
    if name == "gaussian_blur":
        return blur_loop(x, mask, sigma_max=2.0)
    if name == "fade_moving_average_window":
        return window_loop(x, mask, window=2)
    return 0.3 + mask * (x - 0.3)  # fade_reference to the baseline 0.3


def test_planted_window_is_found():
    x = window_series(n=3)
    exp = cl.explain(window_model(), x, "dynamask", target=1, keep_ratio=0.1, n_steps=60)
    assert exp.attributions.min() >= 0.0 and exp.attributions.max() <= 1.0
    for case in exp.attributions:
        assert roc_auc_score(truth().ravel(), case.ravel()) > 0.9
        assert case[truth()].mean() > 0.9 and case[~truth()].mean() < 0.1


def test_sorted_mask_matches_the_reference_vector_at_convergence():
    # Separable: only the 12 window points change the score, and the area asks for 12 ones.
    x = window_series(n=2, seed=1)
    exp = cl.explain(window_model(), x, "dynamask", target=1, keep_ratio=0.1, n_steps=80)
    reference = np.r_[np.zeros(108), np.ones(12)]
    for case in exp.attributions:
        np.testing.assert_allclose(np.sort(case.ravel()), reference, atol=0.01)
        np.testing.assert_array_equal(case > 0.5, truth())


@pytest.mark.parametrize(
    "perturbation",
    ["fade_moving_average", "gaussian_blur", "fade_moving_average_window", "fade_reference"],
)
@pytest.mark.parametrize("deletion_mode", [False, True])
def test_reported_losses_are_the_objective_at_the_returned_mask(perturbation, deletion_mode):
    model = window_model()
    x = window_series(n=2, seed=2)
    params = dict(
        perturbation=perturbation, keep_ratio=0.25, n_steps=3, time_reg_factor=0.7, baseline=0.3
    )
    exp = cl.explain(model, x, "dynamask", target=1, deletion_mode=deletion_mode, **params)
    reference = np.r_[np.zeros(int(0.75 * C * T)), np.ones(C * T - int(0.75 * C * T))]
    for i, mask in enumerate(exp.attributions.astype(float)):
        keep = 1 - mask if deletion_mode else mask
        error = (
            score(model, perturb(perturbation, x[i], keep)[None])[0] - score(model, x[i : i + 1])[0]
        ) ** 2
        area = ((np.sort(mask.ravel()) - reference) ** 2).mean()
        smooth = np.abs(np.diff(mask, axis=1)).mean()
        loss = (-error if deletion_mode else error) + 0.5 * 100 * area + 0.7 * smooth
        np.testing.assert_allclose(exp.extras["error"][i], error, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(exp.extras["area_loss"][i], area, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(exp.extras["time_loss"][i], smooth, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(exp.extras["loss"][i], loss, rtol=1e-4, atol=1e-4)
    assert exp.extras["n_steps"] == 3 and exp.extras["final_size_reg_factor"] == 50.0


def test_one_sgd_step_is_the_hand_gradient_step():
    # Linear score s = w . (b + m (x - b)) + c: d (s(m) - s(x))^2 / dm = 2 (s(m) - s(x)) w (x - b).
    model = window_model()
    x = window_series(n=2, seed=3)
    exp = cl.explain(
        model,
        x,
        "dynamask",
        target=1,
        perturbation="fade_reference",
        baseline=0.3,
        n_steps=1,
        learning_rate=0.01,
        size_reg_factor_init=0.0,
    )
    weight = model[1].weight[1].detach().numpy().reshape(C, T).astype(float)
    for i in range(2):
        gap = score(model, (0.3 + 0.5 * (x[i] - 0.3))[None])[0] - score(model, x[i : i + 1])[0]
        expected = np.clip(0.5 - 0.01 * 2 * gap * weight * (x[i] - 0.3), 0, 1)
        np.testing.assert_allclose(exp.attributions[i], expected, rtol=1e-5, atol=1e-6)


def test_deletion_mode_marks_the_points_whose_removal_moves_the_score():
    x = window_series(n=2, seed=4)
    exp = cl.explain(
        window_model(), x, "dynamask", target=1, keep_ratio=0.1, n_steps=30, deletion_mode=True
    )
    for case in exp.attributions:
        assert roc_auc_score(truth().ravel(), case.ravel()) > 0.9


def test_deterministic_and_the_model_untouched():
    model = window_model()
    before = model_state(model)
    x = window_series(n=2)
    first = cl.explain(model, x, "dynamask", target=1, n_steps=5)
    again = cl.explain(model, x, "dynamask", target=1, n_steps=5)
    np.testing.assert_array_equal(first.attributions, again.attributions)
    assert_model_unchanged(model, before)
    np.testing.assert_array_equal(x, window_series(n=2))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"keep_ratio": 0.0}, "`keep_ratio` must be greater than 0"),
        ({"keep_ratio": 1.5}, "`keep_ratio` must be at most 1"),
        ({"perturbation": "gaussian"}, "`perturbation` must be one of.*Did you mean"),
        ({"n_steps": 0}, "`n_steps` must be at least 1"),
        ({"baseline": "noise"}, "baseline"),
    ],
)
def test_bad_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        cl.explain(window_model(), window_series(n=1), "dynamask", target=1, **params)


def test_a_list_of_areas_keeps_the_smallest_one_below_the_error_threshold():
    # The window holds 12 of 120 points: an area of 0.05 (6 ones) cannot keep it all, 0.1 can.
    model = window_model()
    x = window_series(n=2, seed=5)
    params = dict(target=1, n_steps=40)
    group = cl.explain(
        model, x, "dynamask", keep_ratio=[0.3, 0.05, 0.1], error_threshold=1e-3, **params
    )
    np.testing.assert_array_equal(group.extras["selected_keep_ratio"], np.float32([0.1, 0.1]))
    assert group.extras["keep_ratio"] == [0.05, 0.1, 0.3]
    single = cl.explain(model, x, "dynamask", keep_ratio=0.1, **params)
    np.testing.assert_array_equal(group.attributions, single.attributions)
    np.testing.assert_array_equal(group.extras["error"], single.extras["error"])
    small = cl.explain(model, x, "dynamask", keep_ratio=0.05, **params)
    assert (small.extras["error"] > 1e-3).all()  # why 0.05 was passed over


def test_an_empty_list_of_areas_is_refused():
    with pytest.raises(TypeError, match="non-empty list"):
        cl.explain(window_model(), window_series(n=1), "dynamask", target=1, keep_ratio=[])
