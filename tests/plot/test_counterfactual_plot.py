"""The counterfactual figure: both series per channel, the changed runs shaded, nothing else."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from tests.counterfactual.planted import planted_window_data, window_black_box

import chronolens as cl


@pytest.fixture(scope="module")
def result():
    x, ref, y = planted_window_data(n_query=2)
    return cl.counterfactual(window_black_box, x, reference=(ref, y), distance="euclidean")


def _shaded_spans(ax):
    """(left, right) of every axvspan patch of an axis (a Rectangle in data x)."""
    return sorted((float(p.get_x()), float(p.get_x() + p.get_width())) for p in ax.patches)


def test_lines_are_the_two_series_and_shading_is_the_changed_runs(result):
    fig = cl.plot.counterfactual(result, case=1)
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert len(axes) == 3
    for channel, ax in enumerate(axes):
        original, changed = ax.lines[:2]
        np.testing.assert_array_equal(original.get_ydata(), result.original[1, channel])
        np.testing.assert_array_equal(changed.get_ydata(), result.counterfactual[1, channel])
        mask = result.changed[1, channel]
        # runs of changed points computed here, one loop over time
        runs, start = [], None
        for i, flag in enumerate([*mask, False]):
            if flag and start is None:
                start = i
            if not flag and start is not None:
                runs.append((start - 0.5, i - 0.5))
                start = None
        assert _shaded_spans(ax) == runs
    assert "valid" in fig._suptitle.get_text()
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_result_plot_and_the_function_name_agree(result):
    a = result.plot(0, channels=[1])
    b = cl.plot.plot_counterfactual(result, 0, channels=[1])
    assert len(a.axes) == len(b.axes) == 1
    np.testing.assert_array_equal(a.axes[0].lines[1].get_ydata(), b.axes[0].lines[1].get_ydata())


def test_changed_channels_are_drawn_first_when_capped(result):
    fig = result.plot(0, max_channels=1)
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == "channel 0"
    changed = [c for c in range(3) if result.changed[0, c].any()]
    fig = result.plot(0, max_channels=len(changed))
    assert [ax.get_ylabel() for ax in fig.axes] == [f"channel {c}" for c in changed]


def test_bad_arguments_are_named(result):
    with pytest.raises(IndexError, match="out of range"):
        result.plot(9)
    with pytest.raises(TypeError, match="`case`"):
        result.plot("0")
    with pytest.raises(ValueError, match="`channels`"):
        result.plot(0, channels=[5])
    with pytest.raises(ValueError, match="`channel_names`"):
        result.plot(0, channel_names=["a"])
