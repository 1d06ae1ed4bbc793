"""zoo.fit's learning-rate plateau schedule (Fawaz et al. 2019's ReduceLROnPlateau).

References: a model whose loss cannot move (its logits do not depend on its weights), for which
the published rule (halve after ``plateau`` epochs without an improvement of 1e-4, down to 1e-4)
gives the rate of every epoch in closed form; and fit without the schedule, which a schedule
that never fires must equal weight for weight.
"""

import numpy as np
import pytest
import torch
from torch import nn

from chronolens import zoo


class _Stuck(nn.Module):
    """Constant logits: the loss is log 2 at every epoch, the gradients are zero."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return torch.zeros(len(x), 2) + 0.0 * self.w


def _data(n=16):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 1, 10)).astype(np.float32), np.arange(n) % 2


@pytest.mark.parametrize("plateau", [1, 2, 5])
def test_the_rate_halves_after_each_plateau_down_to_the_floor(plateau):
    x, y = _data()
    history = zoo.fit(_Stuck(), x, y, epochs=40, lr=1e-3, plateau=plateau, progress=False)
    # epoch 0 sets the best loss; every `plateau` epochs after it without improvement halve
    expected, rate, waited = [], 1e-3, 0
    for epoch in range(40):
        expected.append(rate)
        if epoch > 0:
            waited += 1
            if waited >= plateau:
                rate, waited = max(rate * 0.5, 1e-4), 0
    np.testing.assert_allclose(history["lr"], expected, rtol=1e-12)
    assert history["lr"][-1] == pytest.approx(1e-4)
    assert np.allclose(history["loss"], np.log(2))


def test_a_schedule_that_never_fires_trains_exactly_as_without_it():
    x, y = _data(32)
    y = (x[:, 0, :3].mean(axis=1) > 0).astype(np.int64)

    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 2))

    plain, scheduled = model(), model()
    zoo.fit(plain, x, y, epochs=5, batch_size=8, progress=False)
    history = zoo.fit(scheduled, x, y, epochs=5, batch_size=8, plateau=50, progress=False)
    assert history["lr"] == [1e-3] * 5
    for a, b in zip(plain.state_dict().values(), scheduled.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="plateau"):
        zoo.fit(model(), x, y, epochs=1, plateau=0, progress=False)
