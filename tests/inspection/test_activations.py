"""Layer activations aligned to input time, and top windows of a filter."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens.testing import assert_model_unchanged, model_state


def _spike_model():
    """Conv1d(1, 1, 5, no padding, all-ones kernel) -> MaxPool(3): position j sees 3j..3j+6."""
    conv = nn.Conv1d(1, 1, 5, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    return nn.Sequential(OrderedDict(conv=conv, pool=nn.MaxPool1d(3))).eval()


@pytest.mark.parametrize("spike_at", [10, 23, 31])
def test_a_spike_lights_the_receptive_field_position(spike_at):
    model = _spike_model()
    x = np.zeros((1, 1, 40), dtype=np.float32)
    x[0, 0, spike_at] = 1.0
    before = model_state(model)
    act = cl.activations(model, x, "pool")
    assert_model_unchanged(model, before)
    n_positions = (40 - 4) // 3
    assert act.values.shape == (1, 1, n_positions) and act.aligned.shape == (1, 1, 40)
    # Hand-computed receptive fields: position j covers inputs 3j .. 3j + 6, centre 3j + 3.
    np.testing.assert_allclose(act.centres, 3 * np.arange(n_positions) + 3)
    lit = np.nonzero(act.values[0, 0])[0]
    expected = [j for j in range(n_positions) if 3 * j <= spike_at <= 3 * j + 6]
    np.testing.assert_array_equal(lit, expected)
    peak = act.aligned[0, 0].argmax()
    assert abs(peak - spike_at) <= 3


def test_top_windows_find_the_planted_pattern(rng):
    pattern = np.array([[1.0, -1.0, 2.0, 0.5, -2.0], [0.0, 1.0, 0.0, -1.0, 0.0]], np.float32)
    conv = nn.Conv1d(2, 2, 5, padding=2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[1] = torch.from_numpy(pattern)  # filter 1: matched filter
        conv.bias.zero_()
    model = nn.Sequential(OrderedDict(conv=conv, relu=nn.ReLU())).eval()
    X = rng.normal(0.0, 0.05, size=(12, 2, 50)).astype(np.float32)
    X[7, :, 20:25] += 3 * pattern
    X[2, :, 40:45] += 1.5 * pattern
    top = cl.top_windows(model, X, "relu", 1, k=3)
    assert list(top.cases[:2]) == [7, 2] and list(top.starts[:2]) == [20, 40]
    np.testing.assert_array_equal(top.windows[0], X[7, :, 20:25])
    np.testing.assert_array_equal(top.windows[1], X[2, :, 40:45])
    assert top.values[0] > top.values[1] > top.values[2]


def test_a_window_inside_the_series_has_no_nan():
    """Valid conv + pool: every receptive field 3j .. 3j + 6 lies inside the series."""
    model = _spike_model()
    X = np.zeros((2, 1, 40), dtype=np.float32)
    X[1, 0, 0] = 5.0
    X[1, 0, 1:9] = np.arange(1, 9) * 1e-3  # distinct values, so the window content is checked
    top = cl.top_windows(model, X, "pool", 0, k=1)
    # Position 0 (inputs 0 .. 6) holds the spike; positions 1, 2 see only the small ramp.
    assert top.cases[0] == 1 and top.positions[0] == 0 and top.starts[0] == 0
    assert top.windows.shape == (1, 1, 7)
    assert np.isfinite(top.windows).all()
    np.testing.assert_array_equal(top.windows[0], X[1, :, 0:7])


def _padded_model():
    """Conv1d(1, 1, 5, padding=2), kernel 1 2 3 2 1: position j sees inputs j - 2 .. j + 2.

    A spike at input i reaches position j with kernel weight [1, 2, 3, 2, 1][i - j + 2], so the
    strongest position is j = i: position 0 (field -2 .. 2) for a spike at 0, position 19
    (field 17 .. 21) for a spike at the last point of a 20-point series.
    """
    conv = nn.Conv1d(1, 1, 5, padding=2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[1.0, 2.0, 3.0, 2.0, 1.0]]]))
    return nn.Sequential(OrderedDict(conv=conv)).eval()


@pytest.mark.parametrize("spike_at", [0, 1, 18, 19])
def test_window_at_the_edge_is_padded_with_nan(spike_at):
    """The window is the input over position j's receptive field j - 2 .. j + 2, NaN past an end."""
    t = 20
    model = _padded_model()
    X = np.zeros((2, 1, t), dtype=np.float32)
    X[1, 0] = np.arange(t) * 1e-3  # distinct values: the window content is checked point by point
    X[1, 0, spike_at] = 5.0
    top = cl.top_windows(model, X, "conv", 0, k=1)
    position = spike_at  # the strongest position, from the kernel (see _padded_model)
    field = np.arange(position - 2, position + 3)  # receptive field in input time, by hand
    outside = (field < 0) | (field >= t)
    assert top.cases[0] == 1 and top.positions[0] == position
    assert top.starts[0] == field[0] and top.windows.shape == (1, 1, 5)
    window = top.windows[0, 0]
    np.testing.assert_array_equal(np.isnan(window), outside)
    np.testing.assert_array_equal(window[~outside], X[1, 0, field[~outside]])


def test_figures(rng):
    import matplotlib

    matplotlib.use("Agg")
    model = _spike_model()
    X = rng.normal(size=(4, 1, 40)).astype(np.float32)
    assert cl.activations(model, X, "pool").plot(1).axes
    assert cl.top_windows(model, X, "pool", 0, k=3).plot().axes


def test_bad_arguments(rng):
    model = _spike_model()
    X = rng.normal(size=(4, 1, 40)).astype(np.float32)
    with pytest.raises(ValueError, match="Unknown layer"):
        cl.activations(model, X, "conv9")
    with pytest.raises(ValueError, match="1 filters"):
        cl.top_windows(model, X, "pool", 3)
    with pytest.raises(ValueError, match="k"):
        cl.top_windows(model, X, "pool", 0, k=0)


def test_channels_last_data_with_layout_nlc_gives_the_same_answer():
    import chronolens as cl
    from chronolens.testing import tiny_conv_model

    model = tiny_conv_model(n_channels=3, n_classes=2, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 3, 40)).astype(np.float32)
    x_nlc = x.transpose(0, 2, 1).copy()
    a = cl.activations(model, x, "relu1")
    b = cl.activations(model, x_nlc, "relu1", layout="nlc")
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.aligned, b.aligned)
    t1 = cl.top_windows(model, x, "conv1", 0, k=3)
    t2 = cl.top_windows(model, x_nlc, "conv1", 0, k=3, layout="nlc")
    np.testing.assert_array_equal(t1.windows, t2.windows)
    with pytest.raises(ValueError, match="expects 3 channels|layout"):
        cl.activations(model, x_nlc, "relu1")
    with pytest.warns(DeprecationWarning, match=r"top_windows\(X=\.\.\.\) is deprecated"):
        cl.top_windows(model, X=x, layer="conv1", filter=0, k=3)


def test_activation_plot_labels_the_filters_shown_and_the_channels(rng):
    import matplotlib

    matplotlib.use("Agg")
    from chronolens.testing import tiny_conv_model

    model = tiny_conv_model(n_channels=2, n_classes=2)
    X = rng.normal(size=(2, 2, 40)).astype(np.float32)
    figure = cl.activations(model, X, "conv1").plot(0, filters=[3, 1], channel_names=["ax", "ay"])
    heat = figure.axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()] == ["3", "1"]
    assert [ax.get_ylabel() for ax in figure.axes[1:3]] == ["ax", "ay"]
    assert any(ax.get_ylabel() == "activation" for ax in figure.axes)  # the colour bar


def test_unequal_lengths_run_each_case_at_its_own_length():
    """The spike model by hand: position j of "pool" is max(sum x[3j' .. 3j' + 4]) over j' in
    3j .. 3j + 2 (conv: all-ones kernel of 5, no padding; pool of 3): a case of t points has
    (t - 4) // 3 positions, centred at 3j + 3."""
    model = _spike_model()
    rng = np.random.default_rng(3)
    lengths = [40, 22, 31, 22]
    cases = [rng.normal(size=(1, t)).astype(np.float32) for t in lengths]
    act = cl.activations(model, cases, "pool")
    np.testing.assert_array_equal(act.lengths, lengths)
    for i, (case, t) in enumerate(zip(cases, lengths)):
        conv = np.array([case[0, s : s + 5].sum() for s in range(t - 4)])
        n_pos = (t - 4) // 3
        pooled = np.array([conv[3 * j : 3 * j + 3].max() for j in range(n_pos)])
        np.testing.assert_allclose(act.values[i, 0, :n_pos], pooled, rtol=1e-5, atol=1e-5)
        assert np.isnan(act.values[i, 0, n_pos:]).all()
        np.testing.assert_allclose(act.centres[i, :n_pos], 3 * np.arange(n_pos) + 3)
        assert np.isfinite(act.aligned[i, 0, :t]).all() and np.isnan(act.aligned[i, 0, t:]).all()
        np.testing.assert_array_equal(act.x[i, :, :t], case)


def test_top_windows_over_unequal_lengths_match_a_case_by_case_search():
    model = _spike_model()
    rng = np.random.default_rng(4)
    lengths = [40, 22, 31, 22, 35]
    cases = [rng.normal(0, 0.1, size=(1, t)).astype(np.float32) for t in lengths]
    cases[3][0, 12] = 4.0  # the strongest: a short case
    cases[2][0, 27] = 3.0
    top = cl.top_windows(model, cases, "pool", 0, k=3)
    # by hand, case by case: the best position and value of each case, fields 3j .. 3j + 6
    best = []
    for i, case in enumerate(cases):
        t = case.shape[1]
        conv = np.array([case[0, s : s + 5].sum() for s in range(t - 4)])
        pooled = np.array([conv[3 * j : 3 * j + 3].max() for j in range((t - 4) // 3)])
        best.append((-pooled.max(), i, int(pooled.argmax())))
    best.sort()
    expected = best[:3]
    assert list(top.cases) == [i for _, i, _ in expected]
    assert list(top.positions) == [j for _, _, j in expected]
    np.testing.assert_allclose(top.values, [-v for v, _, _ in expected], rtol=1e-5)
    for w, (_, i, j) in enumerate(expected):
        assert top.starts[w] == 3 * j
        np.testing.assert_array_equal(top.windows[w], cases[i][:, 3 * j : 3 * j + 7])


def test_top_windows_plot_names_channels_and_time():
    import matplotlib

    matplotlib.use("Agg")
    conv = nn.Conv1d(2, 1, 3)
    model = nn.Sequential(OrderedDict(conv=conv)).eval()
    X = np.random.default_rng(0).normal(size=(5, 2, 30)).astype(np.float32)
    top = cl.top_windows(model, X, "conv", 0, k=2)
    fig = top.plot(channel_names=["acc_x", "gyro_z"])
    first = fig.axes[0]
    assert [t.get_text() for t in first.get_yticklabels()] == ["acc_x", "gyro_z"]
    assert first.get_xlabel() == "input time"
    x = first.get_lines()[0].get_xdata()
    assert x[0] == top.starts[0] and len(x) == top.windows.shape[2]  # drawn in input time
    assert [
        t.get_text()
        for t in cl.top_windows(model, X, "conv", 0, k=1).plot().axes[0].get_yticklabels()
    ] == ["channel 0", "channel 1"]
    with pytest.raises(ValueError, match="channel_names"):
        top.plot(channel_names=["only one"])
