import numpy as np
import pytest

import chronolens as cl


@pytest.fixture
def exp(tiny, tiny_x):
    return cl.explain(
        tiny,
        tiny_x,
        "integrated_gradients",
        n_steps=4,
        channel_names=["a", "b", "c"],
        class_names=["x", "y", "z"],
    )


def test_fields(exp, tiny_x):
    assert exp.x.shape == exp.attributions.shape == tiny_x.shape
    assert exp.x.dtype == np.float32 and exp.attributions.dtype == np.float32
    assert exp.scores.shape == (5, 3) and exp.target.shape == (5,)
    np.testing.assert_array_equal(exp.target, exp.scores.argmax(1))
    assert exp.method == "integrated_gradients" and exp.params == {"n_steps": 4}
    assert exp.per_channel and exp.layout == "ncl"
    assert set(exp.case_keys) == {"convergence_delta", "baseline", "n_steps_used"}
    assert "integrated_gradients" in repr(exp)


def test_slicing(exp):
    one = exp[3]
    assert one.n_cases == 1 and len(exp[:2]) == 2 and len(exp[[0, 4]]) == 2
    np.testing.assert_array_equal(one.attributions[0], exp.attributions[3])
    np.testing.assert_array_equal(
        one.extras["convergence_delta"], exp.extras["convergence_delta"][3:4]
    )
    np.testing.assert_array_equal(exp[-1].x, exp.x[-1:])
    with pytest.raises(IndexError):
        exp[5]


def test_frozen(exp):
    with pytest.raises(AttributeError):
        exp.method = "other"


def test_save_and_load_round_trip(exp, tmp_path):
    path = tmp_path / "exp.npz"
    exp.save(path)
    back = cl.Explanation.load(path)
    for field in ("x", "attributions", "target", "scores"):
        np.testing.assert_array_equal(getattr(back, field), getattr(exp, field))
    assert back.method == exp.method and back.params == exp.params
    assert back.channel_names == ("a", "b", "c") and back.class_names == ("x", "y", "z")
    assert back.case_keys == exp.case_keys and back.extras["baseline"].shape == exp.x.shape
    np.testing.assert_array_equal(
        back[2].extras["convergence_delta"], exp[2].extras["convergence_delta"]
    )
    # No pickle anywhere in the file.
    with np.load(path, allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)


def test_save_cam_and_callable_target(tiny, tiny_x, tmp_path):
    exp = cl.explain(tiny, tiny_x, "grad_cam", target=lambda out: out[:, 0] - out[:, 1])
    exp.save(tmp_path / "cam.npz")
    back = cl.Explanation.load(tmp_path / "cam.npz")
    assert back.target is None and back.extras["layer"] == exp.extras["layer"]
    assert not back.per_channel and back.attributions.shape == (5, 1, 40)


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a chronolens Explanation"):
        cl.Explanation.load(tmp_path / "other.npz")


def test_broadcast_is_explicit(tiny, tiny_x):
    exp = cl.explain(tiny, tiny_x, "grad_cam")
    assert exp.broadcast().shape == tiny_x.shape
    np.testing.assert_array_equal(exp.broadcast()[:, 2], exp.attributions[:, 0])


def test_to_xarray(exp):
    xr = pytest.importorskip("xarray")
    ds = exp.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds["attributions"].dims == ("case", "channel", "time")
    assert list(ds["channel"].values) == ["a", "b", "c"]
    np.testing.assert_array_equal(ds["attributions"].values, exp.attributions)


def test_shape_mismatch_is_rejected(tiny_x):
    with pytest.raises(ValueError, match="do not match"):
        cl.Explanation(
            x=tiny_x,
            attributions=np.zeros((5, 2, 40), np.float32),
            target=None,
            scores=np.zeros((5, 1)),
            method="m",
        )


def test_plot_and_notebook_html(exp):
    fig = exp.plot(1)
    assert len(fig.axes) >= 3
    assert "<img" in exp._repr_html_()
