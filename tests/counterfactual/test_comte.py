"""CoMTE against planted ground truth: a model decided by channel 2 gets exactly channel 2."""

import numpy as np
import pytest
import torch
from tests.counterfactual.planted import channel_black_box
from torch import nn

import chronolens as cl
from chronolens.testing import model_state
from chronolens.testing.checks import assert_model_unchanged


class ChannelModel(nn.Module):
    """Logits (-m, m) with m the mean of channel 2: no other channel matters."""

    def __init__(self) -> None:
        super().__init__()
        self.select = nn.Conv1d(4, 1, kernel_size=1, bias=False)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            self.select.weight.zero_()
            self.select.weight[0, 2, 0] = 1.0
            self.head.weight.copy_(torch.tensor([[-1.0], [1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.select(x)).flatten(1))


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.5, size=(3, 4, 30)).astype(np.float32)
    x[:, 2] -= 1.0  # class 0
    ref = rng.normal(scale=0.5, size=(10, 4, 30)).astype(np.float32)
    y = np.arange(10) % 2
    ref[y == 1, 2] += 1.0
    ref[y == 0, 2] -= 1.0
    return x, ref, y


def _nearest_of_class(query, ref, y, klass, predicted):
    """Brute force: the nearest reference case (Euclidean) labelled and classed ``klass``."""
    best, best_d = -1, np.inf
    for j in range(len(ref)):
        if y[j] == klass and predicted[j] == klass:
            d = np.sqrt(((query.astype(float) - ref[j]) ** 2).sum())
            if d < best_d:
                best, best_d = j, d
    return best


@pytest.mark.parametrize("search", ["greedy", "optimized", "exhaustive"])
@pytest.mark.parametrize("kind", ["torch", "black_box"])
def test_swaps_exactly_the_deciding_channel(kind, search):
    x, ref, y = _data()
    model = ChannelModel() if kind == "torch" else channel_black_box
    state = model_state(model) if kind == "torch" else None
    x_copy, ref_copy = x.copy(), ref.copy()
    cf = cl.counterfactual(model, x, reference=(ref, y), method="comte", search=search)
    assert cf.validity.all() and (cf.new_class == 1).all()
    predicted = channel_black_box(ref).argmax(1)
    for i in range(len(x)):
        assert cf.changed[i, 2].all() and not cf.changed[i, [0, 1, 3]].any()
        source = cf.reference_index[i]
        np.testing.assert_array_equal(cf.counterfactual[i, 2], ref[source, 2])
        np.testing.assert_array_equal(cf.counterfactual[i, [0, 1, 3]], x[i, [0, 1, 3]])
        # every distractor needs one channel: the nearest one wins the tie on fewest channels
        # unless a farther one gives a higher target probability; either is of class 1
        assert y[source] == 1 and predicted[source] == 1
        diff = cf.counterfactual[i].astype(np.float64) - x[i]
        assert cf.l1[i] == pytest.approx(np.abs(diff).sum(), rel=1e-9)
        assert cf.sparsity[i] == pytest.approx(0.25)
    if state is not None:
        assert_model_unchanged(model, state)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(ref, ref_copy)


def test_one_distractor_is_the_nearest_true_positive():
    x, ref, y = _data(1)
    y = y.copy()
    y[3] = 0  # a case of class 1 labelled 0 is no distractor for class 1 ...
    y[4] = 1  # ... nor one of class 0 labelled 1 (the model disagrees)
    cf = cl.counterfactual(
        channel_black_box, x, reference=(ref, y), method="comte", n_distractors=1
    )
    predicted = channel_black_box(ref).argmax(1)
    for i in range(len(x)):
        assert cf.reference_index[i] == _nearest_of_class(x[i], ref, y, 1, predicted)


def test_greedy_adds_channels_until_the_class_flips():
    """Class 1 needs channels 0 and 3 both high: two swaps, exactly those channels."""

    def model(batch):
        m = np.minimum(batch[:, 0].mean(1), batch[:, 3].mean(1))
        p = 1 / (1 + np.exp(-4 * m))
        return np.stack([1 - p, p], 1)

    rng = np.random.default_rng(2)
    x = rng.normal(scale=0.2, size=(2, 4, 20)).astype(np.float32) - 1.0
    ref = rng.normal(scale=0.2, size=(4, 4, 20)).astype(np.float32) + 1.0
    cf = cl.counterfactual(model, x, reference=ref, method="comte")
    assert cf.validity.all()
    assert np.array_equal(cf.changed.any(axis=2), np.tile([True, False, False, True], (2, 1)))
    climbed = cl.counterfactual(model, x, reference=ref, method="comte", search="optimized")
    np.testing.assert_array_equal(climbed.changed, cf.changed)
    assert climbed.params["seed"] == 0


def test_default_target_is_the_second_most_probable_class():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 3, 10)).astype(np.float32)
    ref = rng.normal(size=(30, 3, 10)).astype(np.float32)

    def model(batch):
        return batch.mean(axis=2) * 3  # class = the channel with the highest mean

    cf = cl.counterfactual(model, x, reference=ref, method="comte")
    expected = np.argsort(-model(x), axis=1)[:, 1]
    np.testing.assert_array_equal(cf.target_class, expected)
    np.testing.assert_array_equal(cf.validity, cf.new_class == expected)


def test_single_channel_series_are_refused_with_native_guide_suggested():
    x = np.zeros((1, 1, 20), dtype=np.float32)
    with pytest.raises(ValueError, match="needs several.*method='native_guide'"):
        cl.counterfactual(lambda b: b.mean(2), x, reference=x, method="comte")
