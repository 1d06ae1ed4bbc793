"""Layer-wise relevance propagation (LRP) over channel x time.

The explained score is handed back from the output to the input, layer by layer, by rules
that share each layer's relevance among its inputs (:mod:`chronolens.attribution._lrp_rules`):
``explain(model, x, "lrp", composite=...)`` with one of zennit's composites
(:mod:`chronolens.attribution._lrp_composites`). The output's relevance is the explained score
on its class and zero elsewhere (``d score / d output * output``: for a class index, zennit's
``attr_output`` of a one-hot times the output). Batch norms right after a convolution or linear
layer are merged into it for the call (:mod:`chronolens.attribution._lrp_canonize`); the model
is never written to.

Conservation: with the epsilon and z+ rules the map sums to the score minus what biases and
the epsilon stabiliser absorb (exactly the score for a bias-free network with ``epsilon`` near
zero); the flat rule conserves the relevance it receives; alpha-beta and gamma conserve it on
bias-free layers with positive inputs. Each case's sum and score are recorded
(``relevance_sum``, ``score``), so the absorbed share is visible.

Supported: PyTorch modules built of Conv1d / Conv2d, Linear, BatchNorm, ReLU-type activations,
max and average pooling, Flatten, Dropout, Identity, in containers (``nn.Sequential``, residual
blocks: an addition of two layers' outputs feeding a layer shares relevance between its terms
by value, zennit's ``Sum`` layer with the ``Norm`` rule that its ResNet canonizers insert), and
Keras models on the torch backend built of the Keras
counterparts (:mod:`chronolens.attribution._lrp_keras`). Any other layer (an LSTM, attention,
a softmax) is refused, naming it and the methods that do work. Operations written in a
forward (``torch.cat``, ``x * y``) are not layers and pass relevance as their gradient does.

References
----------
Bach, Binder, Montavon, Klauschen, Müller, Samek (2015). On pixel-wise explanations for
non-linear classifier decisions by layer-wise relevance propagation. PLoS ONE.
Kohlbrenner, Bauer, Nakajima, Binder, Samek, Lapuschkin (2020). Towards best practice in
explaining neural network decisions with LRP. IJCNN.
Anders, Neumann, Samek, Müller, Lapuschkin (2021). Software for dataset-wide XAI: from local
explanations to global insights with Zennit, CoRelAy, and ViRelAy. arXiv:2106.13200.
"""

from __future__ import annotations

from typing import Any

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_choice, check_float
from chronolens.attribution._common import concatenate
from chronolens.attribution._lrp_composites import COMPOSITES, composite_rules
from chronolens.attribution._lrp_engine import LRPRules
from chronolens.attribution._result import MethodResult
from chronolens.models.base import Model
from chronolens.targets import Target


def _bounds(
    x: torch.Tensor, low: float | None, high: float | None, composite: str
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-case ``(low, high)`` of the z^B rule, shape (n, 1, 1); None for other composites."""
    if composite != "epsilon_gamma_box":
        if low is not None or high is not None:
            raise ValueError(
                "`low` and `high` bound the input for the z^B rule of "
                f'composite="epsilon_gamma_box" only; composite={composite!r} does not use them.'
            )
        return None
    n = x.shape[0]
    flat = x.reshape(n, -1)
    lows = flat.amin(dim=1) if low is None else torch.full((n,), check_float(low, "low"))
    highs = flat.amax(dim=1) if high is None else torch.full((n,), check_float(high, "high"))
    if bool((lows > flat.amin(dim=1)).any()) or bool((highs < flat.amax(dim=1)).any()):
        raise ValueError(
            f"`low`={low} and `high`={high} must bound every value of the series (they are the "
            f"smallest and largest values the input can take; the data spans "
            f"{float(flat.min()):.4g} to {float(flat.max()):.4g}); leave them None to use each "
            "case's own minimum and maximum."
        )
    return lows[:, None, None], highs[:, None, None]


def lrp(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    composite: str = "epsilon_plus",
    epsilon: float = 1e-6,
    gamma: float = 0.25,
    low: float | None = None,
    high: float | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """Layer-wise relevance propagation with one of zennit's composites.

    Parameters
    ----------
    composite : {"epsilon_plus", "epsilon_plus_flat", "epsilon_alpha2_beta1", \
"epsilon_alpha2_beta1_flat", "epsilon_gamma_box"}, default="epsilon_plus"
        Which rule each layer gets: epsilon on linear layers; z+, alpha=2 beta=1 or gamma on
        convolutions; optionally flat (``*_flat``) or z^B (``epsilon_gamma_box``) on the first
        layer. Names and assignments are zennit's.
    epsilon : float, default=1e-6
        Stabiliser of the epsilon rule on linear layers (larger values absorb weak, noisy
        relevance); above 0 (LRP-0 is ``epsilon=1e-9``: at 0 an output of exactly zero
        divides zero by zero).
    gamma : float, default=0.25
        How much the gamma rule (``epsilon_gamma_box``) favours positive contributions.
    low, high : float, optional
        Smallest and largest value the input can take, for the z^B rule of
        ``epsilon_gamma_box``; by default each case's own minimum and maximum.

    Returns
    -------
    MethodResult
        The relevance of every value ``(n, c, t)``. ``extras["rules"]`` names the rule each
        layer got; ``case_extras`` hold each case's ``relevance_sum`` and ``score``.
    """
    composite = check_choice(composite, "composite", COMPOSITES)
    epsilon = check_float(epsilon, "epsilon", minimum=0.0, strict_minimum=True)  # 0: 0 / 0
    gamma = check_float(gamma, "gamma", minimum=0.0)
    bounds = _bounds(x, low, high, composite)
    maps = torch.empty_like(x)
    scores = torch.empty(x.shape[0])
    outputs = []
    rules: LRPRules | None = None
    progress.start(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        part = None if bounds is None else (bounds[0][start:stop], bounds[1][start:stop])
        rules = LRPRules(composite_rules(composite, epsilon=epsilon, gamma=gamma, bounds=part))
        s, relevance, out = model.rule_gradient(
            x[start:stop], target.take(slice(start, stop)), rules
        )
        scores[start:stop] = s.cpu()
        maps[start:stop] = relevance.cpu()
        outputs.append(out)
        progress.advance(stop - start)
    extras: dict[str, Any] = {
        "composite": composite,
        "rules": dict(rules.assigned) if rules is not None else {},
    }
    case_extras = {"relevance_sum": maps.sum(dim=(1, 2)), "score": scores}
    return MethodResult(maps, extras=extras, case_extras=case_extras, output=concatenate(outputs))
