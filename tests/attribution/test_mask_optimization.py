"""The learned-mask methods' optimiser against torch.optim's Adam and SGD (the peer it follows),
and the chain-rule score against autograd through the whole model."""

import pytest
import torch
from torch import nn

from chronolens.attribution._mask_optimization import Optimiser, target_scores
from chronolens.models import adapt
from chronolens.targets import Target


@pytest.mark.parametrize(("name", "momentum"), [("adam", 0.0), ("sgd", 0.9), ("sgd", 0.0)])
def test_updates_equal_torch_optim(name, momentum):
    torch.manual_seed(0)
    start = torch.randn(3, 4, 5)
    centre = torch.randn(3, 4, 5)
    ours = start.clone().requires_grad_(True)
    theirs = start.clone().requires_grad_(True)
    optimiser = Optimiser([ours], name, 0.05, momentum)
    if name == "adam":
        reference = torch.optim.Adam([theirs], lr=0.05)
    else:
        reference = torch.optim.SGD([theirs], lr=0.05, momentum=momentum)
    for _ in range(6):
        for parameter, step in ((ours, optimiser), (theirs, reference)):
            step.zero_grad()
            (torch.sin(3 * parameter) + (parameter - centre) ** 2).sum().backward()
            step.step()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_chain_rule_score_has_the_models_value_and_gradient():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(30, 2))
    net.eval()
    mask = torch.rand(2, 2, 10, requires_grad=True)
    x = torch.randn(2, 2, 10)
    target = Target(indices=torch.tensor([1, 0]))
    got = target_scores(adapt(net), x * mask, target)
    (got_grad,) = torch.autograd.grad((got**2).sum(), mask)
    direct = net(x * mask).gather(1, torch.tensor([[1], [0]]))[:, 0]
    (expected_grad,) = torch.autograd.grad((direct**2).sum(), mask)
    torch.testing.assert_close(got, direct, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got_grad, expected_grad, rtol=1e-5, atol=1e-6)
