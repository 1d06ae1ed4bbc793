"""Bad input: every error names the parameter and the fix; the model and data stay untouched."""

import numpy as np
import pytest
from tests.counterfactual.planted import WindowModel, planted_window_data, window_black_box

import chronolens as cl
from chronolens.testing import model_state
from chronolens.testing.checks import assert_model_unchanged

X, REF, Y = planted_window_data(n_query=1, n_ref=4)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, r"needs reference data.*reference=\(X_ref, y_ref\)"),
        ({"reference": (REF, Y, Y)}, ValueError, r"must be \(X_ref, y_ref\)"),
        ({"reference": REF[:, :2]}, ValueError, r"`reference` holds series of 2 channels"),
        ({"reference": REF[:, :, :40]}, ValueError, r"40 time points.*same length"),
        ({"reference": (REF, Y[:2])}, ValueError, r"y_ref must hold one integer class"),
        ({"reference": (REF, Y + 5)}, ValueError, r"y_ref holds classes.*2 classes"),
        ({"reference": (REF, np.zeros(4, int))}, ValueError, r"no case of another class"),
        ({"reference": (REF, Y), "target_class": 7}, ValueError, r"`target_class` 7 does not"),
        ({"reference": (REF, Y), "target_class": 0}, ValueError, r"predicted class already"),
        ({"reference": (REF, Y), "target_class": [1, 1]}, ValueError, r"one per case"),
        ({"reference": (REF, Y), "method": "dice"}, ValueError, r"`method` must be one of"),
        ({"reference": (REF, Y), "search": "greedy"}, TypeError, r"takes no \['search'\]"),
        ({"reference": (REF, Y), "distance": "l3"}, ValueError, r"`distance` must be one of"),
        ({"reference": (REF, Y), "relevance": "nope"}, ValueError, r"nope"),
        ({"reference": (REF, Y), "window": "one", "relevance": "cam"}, ValueError, r"per-channel"),
        ({"reference": (REF, Y), "method": "comte", "search": "best"}, ValueError, r"`search`"),
        ({"reference": (REF, Y), "method": "comte", "n_distractors": 0}, ValueError, "at least"),
        ({"reference": (REF, Y), "batch_size": 0}, ValueError, r"`batch_size`"),
    ],
)
def test_bad_input_is_named(kwargs, error, match):
    model = WindowModel()
    before, x_copy, ref_copy = model_state(model), X.copy(), REF.copy()
    with pytest.raises(error, match=match):
        cl.counterfactual(model, X, **kwargs)
    assert_model_unchanged(model, before)
    np.testing.assert_array_equal(X, x_copy)
    np.testing.assert_array_equal(REF, ref_copy)


def test_comte_without_any_distractor_the_model_agrees_with():
    wrong = REF.copy()
    wrong[:, 1] = -1.0  # all classed 0 by the model, half labelled 1
    with pytest.raises(ValueError, match="no case of class 1 that the model also classes"):
        cl.counterfactual(window_black_box, X, reference=(wrong, Y), method="comte")


def test_relevance_that_needs_gradients_on_a_black_box():
    with pytest.raises(ValueError, match="`relevance` 'saliency' does not run"):
        cl.counterfactual(window_black_box, X, reference=(REF, Y), relevance="saliency")
