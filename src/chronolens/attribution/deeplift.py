"""DeepLIFT (the rescale rule) and DeepLIFT-SHAP.

DeepLIFT explains ``f(x) - f(r)`` for a reference series ``r``: each nonlinearity passes back
``(y - y_r) / (z - z_r)`` (its output difference over its input difference) instead of its
derivative, max pooling Captum's cross-maximum rule, and every linear layer (convolutions,
linear layers, batch norm in eval mode, the additions of residual blocks) its ordinary
gradient. The map ``(x - r) * m`` then sums, per case, to ``f(x) - f(r)`` (summation to delta);
the gap is recorded as ``delta``. Input and reference run through the model as two halves of
one batch, as in Captum's ``DeepLift``, so each layer sees both.

DeepLIFT-SHAP averages DeepLIFT over a distribution of references (Captum's ``DeepLiftShap``):
the rows of ``background``, or draws around the baseline. Its map sums to ``f(x) - E[f(r)]``.

The rules are installed by :class:`chronolens.attribution._nonlinear_rules.Rules` through
:meth:`chronolens.models.base.Model.rule_gradient`: torch modules and Keras on the torch backend.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._validation import check_float, check_int, resolve_seed
from chronolens.attribution._nonlinear_rules import Rules
from chronolens.attribution._result import MethodResult
from chronolens.attribution.gradient_shap import _background
from chronolens.baselines import describe, replacement
from chronolens.models.base import Model
from chronolens.targets import Target

#: Baselines a reference may be (noise would need a seed, local means an interval).
BASELINES = ("zeros", "mean", "blur")
#: Draws around the baseline when ``deeplift_shap`` gets no ``background`` and no ``n_samples``.
DEFAULT_DRAWS = 25
#: A case whose gap exceeds this share of its score scale is reported.
GAP_TOLERANCE = 1e-3

References = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def refuse_escapes(rules: Rules, method: str, fix: str) -> None:
    """Raise when the forward called nonlinear functions that no rule reached."""
    if rules.escaped:
        names = ", ".join(sorted(rules.escaped))
        raise ValueError(
            f"{method} cannot reach every nonlinearity of this model: it calls {names} outside "
            "any layer that has a rule (as a function in forward, e.g. F.relu, or inside a layer "
            "such as a recurrent cell), and module hooks cannot change that backward pass, so "
            f"the map would be wrong. {fix}"
        )


def _contributions(
    model: Model,
    x: torch.Tensor,
    references: References,
    n_references: int,
    target: Target,
    batch_size: int,
    progress: Progress,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Sum over references of ``(x - r) * m``, per case ``f(x)`` and the sum of ``f(r)``.

    The last value says whether a softmax rule (not exact) was used.

    Rows are (case, reference) pairs, built chunk by chunk; each runs with its reference as
    the two halves of one batch.
    """
    if model.max_rows is not None and model.max_rows < 2:
        raise ValueError(
            "DeepLIFT runs each case together with its reference (two rows per call); this model "
            "takes one row per call. Use 'integrated_gradients' instead."
        )
    n = x.shape[0]
    rules = Rules("deeplift")
    total = torch.zeros_like(x)
    score = torch.zeros(n)
    reference_scores = torch.zeros(n)
    per_call = max(1, batch_size // 2)
    progress.start(n * n_references)
    for start, stop in chunks(n * n_references, per_call):
        rows = torch.arange(start, stop)
        case, which = rows // n_references, rows % n_references
        inputs, refs = x[case], references(case, which)
        doubled = target.take(torch.cat([case, case]))
        scores, grads, _ = model.rule_gradient(torch.cat([inputs, refs]), doubled, rules)
        refuse_escapes(
            rules,
            "DeepLIFT",
            "Use nn.ReLU (or other activation) modules in the model, or 'integrated_gradients'.",
        )
        k = len(rows)
        total.index_add_(0, case, (inputs - refs) * grads[:k].cpu())
        score[case] = scores[:k].cpu()
        reference_scores.index_add_(0, case, scores[k:].cpu())
        progress.advance(k)
    return total, score, reference_scores, rules.softmax


def _check_gap(delta: torch.Tensor, scale: torch.Tensor, softmax: bool) -> None:
    """Warn when the map does not sum to the score difference (rules that missed a layer)."""
    if softmax:
        warnings.warn(
            "DeepLIFT passed through a softmax, whose rule (Captum's, centred per case) is not "
            "exact: the map does not sum to f(x) - f(baseline). Explain the logits instead (the "
            "model without its final softmax).",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    gap = delta.abs() / scale.clamp(min=1e-2)
    bad = gap > GAP_TOLERANCE
    if not bool(bad.any()):
        return
    warnings.warn(
        f"DeepLIFT's map does not sum to f(x) - f(baseline) for {int(bad.sum())} of "
        f"{len(delta)} cases (largest gap {float(gap.max()):.2g} of the score scale; "
        "extras['delta']): the model has nonlinear operations without a DeepLIFT rule (layer "
        "norms, attention, products of activations, activation modules chronolens does not "
        "know), whose backward is the plain gradient. Build it from activation modules (nn.ReLU, "
        "nn.Tanh, ...) or use 'integrated_gradients'.",
        RuntimeWarning,
        stacklevel=3,
    )


def deeplift(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    baseline: Any = "zeros",
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """DeepLIFT with the rescale rule: each value's share of ``f(x) - f(baseline)``.

    Signed: positive values push the score above the baseline's. The map sums per case to
    ``f(x) - f(baseline)``; the gap is ``case_extras["delta"]``. A warning names the cause when
    it does not (a layer without a rule); a nonlinearity called as a function in ``forward``
    (``F.relu``), which no rule can reach, is refused.

    Parameters
    ----------
    baseline : {"zeros", "mean", "blur"}, float or array, default="zeros"
        The reference series: all zeros, each case's per-channel mean over time, a blurred
        copy, a constant, or an array of shape (n_channels, n_timepoints) or (n_cases,
        n_channels, n_timepoints) in the layout of ``x``.

    References
    ----------
    Shrikumar, Greenside, Kundaje (2017). Learning important features through propagating
    activation differences. ICML.
    """
    base = replacement(baseline, x, allowed=BASELINES)
    assert base is not None
    total, score, reference_score, softmax = _contributions(
        model, x, lambda case, _: base[case], 1, target, batch_size, progress
    )
    change = score - reference_score
    delta = total.sum(dim=(1, 2)) - change
    scale = torch.maximum(score.abs(), reference_score.abs())
    _check_gap(delta, scale, softmax)
    return MethodResult(
        total,
        extras={"baseline": describe(baseline)},
        case_extras={"delta": delta, "baseline": base},
    )


def deeplift_shap(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    background: Any = None,
    n_samples: int | None = None,
    baseline: Any = "zeros",
    stdevs: float = 0.0,
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """DeepLIFT-SHAP: DeepLIFT averaged over a distribution of reference series.

    ``mean_r (x - r) * m(x, r)``, which sums per case to ``f(x) - mean_r f(r)`` (the gap is
    ``case_extras["delta"]``): Lundberg and Lee's SHAP values of the model with DeepLIFT's rules.
    The references are shared by every case, so a map never depends on the batch.

    Parameters
    ----------
    background : array-like of shape (n_reference, n_channels, n_timepoints), optional
        Real series (e.g. training cases) to take the references from: the SHAP reading.
    n_samples : int, optional
        References per case. None uses every series of ``background`` once (Captum's
        ``DeepLiftShap``) or, without ``background``, 25 draws; an int draws that many, from
        ``background`` uniformly (with replacement) or around the baseline.
    baseline : {"zeros", "mean", "blur"}, float or array, default="zeros"
        Without ``background``: the centre of the references, each case's own.
    stdevs : float, default=0.0
        Without ``background``: standard deviation of the Gaussian noise added to the baseline
        for each reference (in the data's units; 0 gives DeepLIFT from the baseline).
    seed : int or None, default=None
        Seed of the draws.

    References
    ----------
    Lundberg, Lee (2017). A unified approach to interpreting model predictions. NeurIPS.
    Shrikumar, Greenside, Kundaje (2017). Learning important features through propagating
    activation differences. ICML.
    """
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", minimum=1)
    stdevs = check_float(stdevs, "stdevs", minimum=0.0)
    seed = resolve_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    bank = _background(background, x)
    extras: dict[str, Any] = {"seed": seed}
    references: References
    if bank is not None:
        if n_samples is not None:
            index = torch.randint(len(bank), (n_samples,), generator=generator)
            bank = bank[index]
            extras["background_index"] = index.numpy()
        chosen = bank.to(x.device, x.dtype)
        references, k = (lambda _, which: chosen[which]), len(bank)
    else:
        k = n_samples if n_samples is not None else DEFAULT_DRAWS
        noise = stdevs * torch.randn((k, *x.shape[1:]), generator=generator)
        own = replacement(baseline, x, allowed=BASELINES)
        assert own is not None
        references = lambda case, which: own[case] + noise[which].to(x.device)  # noqa: E731
        extras["baseline"] = describe(baseline)
    total, score, reference_total, softmax = _contributions(
        model, x, references, k, target, batch_size, progress
    )
    attributions = total / k
    expected = reference_total / k
    delta = attributions.sum(dim=(1, 2)) - (score - expected)
    _check_gap(delta, torch.maximum(score.abs(), expected.abs()), softmax)
    extras["n_references"] = k
    return MethodResult(
        attributions,
        extras=extras,
        case_extras={"delta": delta, "expected_reference_score": expected},
    )
