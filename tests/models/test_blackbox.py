"""Black-box classifiers: aeon, scikit-learn, plain callables."""

import numpy as np
import pytest
import torch

import chronolens as cl
from chronolens.datasets import load_basic_motions
from chronolens.models import BlackBoxModel, adapt


@pytest.fixture(scope="module")
def motions():
    train, test = load_basic_motions("train"), load_basic_motions("test")
    return train, test


@pytest.fixture(scope="module")
def minirocket(motions):
    pytest.importorskip("aeon")
    from aeon.classification.convolution_based import MiniRocketClassifier

    train, _ = motions
    return MiniRocketClassifier(n_kernels=200, random_state=0).fit(train.X, train.y)


def _ablated_drop(predict, x, target, channel, start, stop):
    """The score drop of one ablated segment, computed by hand."""
    ablated = x.copy()
    ablated[:, channel, start:stop] = 0.0
    rows = np.arange(len(x))
    return predict(x)[rows, target] - predict(ablated)[rows, target]


def test_aeon_classifier_feature_ablation(minirocket, motions):
    _, test = motions
    x = test.X[:3]
    exp = cl.explain(minirocket, x, "feature_ablation", n_segments=5, class_names=test.class_names)
    assert exp.extras["occlusion_path"] == "full"
    np.testing.assert_allclose(exp.scores, minirocket.predict_proba(x), rtol=1e-6)
    drop = _ablated_drop(minirocket.predict_proba, x, exp.target, channel=2, start=40, stop=60)
    np.testing.assert_allclose(exp.attributions[:, 2, 50], drop, rtol=1e-5, atol=1e-7)


def test_aeon_classifier_shapley_efficiency(minirocket, motions):
    _, test = motions
    exp = cl.explain(minirocket, test.X[:2], "shapley", n_segments=4, channels="all", seed=0)
    total = exp.attributions.sum(axis=(1, 2)) + exp.extras["base_value"]
    np.testing.assert_allclose(total, exp.scores[np.arange(2), exp.target], rtol=1e-5, atol=1e-6)


def test_sklearn_pipeline_on_flattened_input(motions):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = motions
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(train.X.reshape(40, -1), train.y)
    assert sklearn is not None and adapt(pipeline).flatten
    x = test.X[:4]
    exp = cl.explain(pipeline, x, "occlusion", window=10, stride=10)

    def predict(series):
        return pipeline.predict_proba(series.reshape(len(series), -1))

    drop = _ablated_drop(predict, x, exp.target, channel=4, start=30, stop=40)
    np.testing.assert_allclose(exp.attributions[:, 4, 35], drop, rtol=1e-5, atol=1e-7)


def test_plain_callable(tiny, tiny_x):
    def scores(series):
        with torch.no_grad():
            return tiny(torch.from_numpy(series)).numpy()

    exp = cl.explain(scores, tiny_x, "occlusion", window=5, stride=5)
    reference = cl.explain(tiny, tiny_x, "occlusion", window=5, stride=5)
    np.testing.assert_allclose(exp.attributions, reference.attributions, rtol=1e-4, atol=1e-6)


def test_gradient_methods_refuse_black_boxes_with_alternatives(tiny_x):
    model = BlackBoxModel(lambda series: np.ones((len(series), 2)) / 2)
    with pytest.raises(ValueError, match="occlusion, feature_ablation, shapley"):
        cl.explain(model, tiny_x, "integrated_gradients")
    with pytest.raises(ValueError, match="occlusion"):
        cl.explain(model, tiny_x, "grad_cam")


@pytest.mark.parametrize(
    ("output", "match"),
    [
        (lambda s: np.ones(len(s)), "one value per case"),
        (lambda s: np.ones((len(s) + 1, 2)), "expected scores of shape"),
        (lambda s: np.full((len(s), 2), np.nan), "non-finite"),
    ],
)
def test_bad_predictions(tiny_x, output, match):
    with pytest.raises(ValueError, match=match):
        cl.explain(output, tiny_x, "occlusion")
