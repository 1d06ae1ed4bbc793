"""Old spellings of renamed parameters work for one release, with a DeprecationWarning."""

import numpy as np
import pytest

import chronolens as cl
from chronolens import zoo
from chronolens.testing import tiny_conv_model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 3, 40)).astype(np.float32), rng.integers(0, 3, 8)


def test_fit_and_accuracy_take_x(data):
    x, y = data
    new = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    old = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    history = zoo.fit(new, x, y, epochs=2, seed=0, progress=False, x_val=x, y_val=y)
    with pytest.warns(DeprecationWarning, match=r"X_val=\.\.\.\) is deprecated.*x_val="):
        old_history = zoo.fit(old, x, y, epochs=2, seed=0, progress=False, X_val=x, y_val=y)
    assert history == old_history
    with pytest.warns(DeprecationWarning, match=r"accuracy\(X=\.\.\.\) is deprecated"):
        assert zoo.accuracy(old, X=x, y=y) == zoo.accuracy(new, x, y)
    with pytest.raises(TypeError, match="both `x` and its deprecated spelling `X`"):
        zoo.accuracy(new, x=x, X=x, y=y)


def test_report_takes_x(data, tmp_path):
    x, _ = data
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    kwargs = {"methods": ["saliency"], "metric_cases": 0, "prototypes": False}
    new = cl.report(model, x, out=tmp_path / "new.html", **kwargs)
    with pytest.warns(DeprecationWarning, match=r"report\(X=\.\.\.\) is deprecated"):
        old = cl.report(model, X=x, out=tmp_path / "old.html", **kwargs)
    assert new.read_bytes() == old.read_bytes()
