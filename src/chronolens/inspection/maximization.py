"""Activation maximization: the series a model (or one filter) responds to most.

Gradient ascent on the input, from several seeded starts at once (one batch), with time-series
priors: an L2 penalty, 1-D total variation, a low-pass penalty on the energy above a cutoff
frequency, and per-channel value ranges (projected after every step). Returns the prototypes,
the objective trace and how realistic each prototype is (distance to the nearest reference series).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

if TYPE_CHECKING:
    from chronolens.series import Layout

from chronolens._validation import check_choice, check_float, check_int, resolve_seed
from chronolens.inspection._ascent import PARAMETERIZATIONS, Ascent
from chronolens.inspection._priors import bounds, check_priors, penalties
from chronolens.inspection._priors import prior_scale as prior_scale_of
from chronolens.models.base import Model
from chronolens.targets import Target, binary_kind, predicted_classes


@dataclass(frozen=True)
class Prototypes:
    """The result of :func:`chronolens.maximize`.

    Attributes
    ----------
    prototypes : numpy.ndarray of shape (k, n_channels, n_timepoints)
        One optimised series per restart, best objective first.
    objective : numpy.ndarray of shape (k, n_steps)
        The objective (target value minus penalties) of each restart at every step.
    target_value : numpy.ndarray of shape (k,)
        The class score (or mean filter activation) of each prototype, without penalties.
    predicted : numpy.ndarray of shape (k,) or None
        The class the model predicts for each prototype (None for a filter target).
    euclidean, dtw : numpy.ndarray of shape (k,) or None
        Distance to the nearest reference series (Euclidean; dynamic time warping); None
        without reference data.
    nearest : numpy.ndarray of shape (k,) or None
        Index of the nearest reference series (Euclidean).
    dtw_backend : str or None
        "dtaidistance" or "numpy" (see :mod:`chronolens.inspection._dtw`).
    target : int or tuple
        The class, or ``(layer, filter)``.
    seed : int
        The seed used.
    """

    prototypes: np.ndarray
    objective: np.ndarray
    target_value: np.ndarray
    predicted: np.ndarray | None
    euclidean: np.ndarray | None
    dtw: np.ndarray | None
    nearest: np.ndarray | None
    dtw_backend: str | None
    target: Any
    seed: int

    def plot(
        self,
        index: int = 0,
        channel_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> Any:
        """Plot one prototype's channels (named) and the objective traces of all restarts.

        Parameters
        ----------
        index : int, default=0
            The restart to draw (0: the best).
        channel_names, class_names : sequence of str, optional
            Names for the channel axes and for the class in the title.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        series = self.prototypes[index]
        n_channels = series.shape[0]
        fig, axes = plt.subplots(
            n_channels + 1, 1, figsize=(8, 1.1 * (n_channels + 1) + 1), squeeze=False
        )
        for c in range(n_channels):
            ax = axes[c, 0]
            ax.plot(series[c], lw=1)
            ax.set_ylabel(channel_names[c] if channel_names else f"channel {c}", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[n_channels - 1, 0].set_xlabel("time", fontsize=8)
        trace = axes[-1, 0]
        for restart, curve in enumerate(self.objective):
            trace.plot(curve, lw=1.4 if restart == index else 0.8, label=f"restart {restart}")
        trace.set_xlabel("step")
        trace.set_ylabel("objective", fontsize=8)
        if len(self.objective) > 1:
            trace.legend(fontsize=6, ncols=min(4, len(self.objective)), loc="lower right")
        fig.suptitle(self._title(index, class_names), fontsize=9)
        fig.tight_layout()
        return fig

    def _title(self, index: int, class_names: Sequence[str] | None) -> str:
        def name(k: int) -> str:
            return repr(str(class_names[k])) if class_names else f"class {k}"

        if isinstance(self.target, (int, np.integer)):
            text = f"prototype of {name(int(self.target))}: score {self.target_value[index]:.3g}"
            if self.predicted is not None:
                text += f", predicted {name(int(self.predicted[index]))}"
            return text
        layer, unit = self.target
        return (
            f"prototype of {layer!r} filter {unit}: mean activation {self.target_value[index]:.3g}"
        )


class _Objective(NamedTuple):
    """What is maximized: one value per row of ``layer``'s activation (None: of the output)."""

    target: Target
    layer: str | None


def _objective(adapted: Model, target: Any, n_channels: int, n_timepoints: int) -> _Objective:
    """The objective for a class index or a ``(layer, filter)`` pair, checked on a zero series."""
    zeros = torch.zeros(1, n_channels, n_timepoints)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        index = int(target)
        out = adapted.scores(zeros)
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            raise ValueError("A class target needs a model that outputs (n, n_classes).")
        if not 0 <= index < out.shape[1]:
            raise ValueError(
                f"`target` {index} is out of range: the model outputs {out.shape[1]} class "
                f"scores, so targets must be in 0..{out.shape[1] - 1}."
            )
        return _Objective(Target(fn=lambda scores: scores[:, index]), None)
    if isinstance(target, tuple) and len(target) == 2:
        layer, filt = target
        name = adapted.resolve_layer(layer, n_channels, n_timepoints)
        filt = check_int(filt, "filter", minimum=0)
        n_filters = adapted.layer_output(zeros, name).shape[1]
        if filt >= n_filters:
            raise ValueError(
                f"Layer {name!r} has {n_filters} filters; `filter` {filt} is out of range."
            )
        return _Objective(Target(fn=lambda activation: activation[:, filt].mean(dim=-1)), name)
    raise TypeError(
        f"`target` must be a class index (int) or a (layer, filter) tuple; got {target!r}."
    )


def _shape_and_ranges(
    adapted: Model,
    reference: Any,
    n_channels: int | None,
    n_timepoints: int | None,
    layout: Layout = "ncl",
) -> tuple[int, int, np.ndarray | None]:
    from chronolens._validation import check_choice
    from chronolens.series import LAYOUTS, as_series

    check_choice(layout, "layout", LAYOUTS)
    if reference is not None:
        ref = as_series(reference, layout, name="reference")
        return ref.shape[1], ref.shape[2], ref
    if n_channels is None:
        n_channels = adapted.expected_channels()
    if n_channels is None or n_timepoints is None:
        raise ValueError(
            "The series shape is unknown: pass `reference` data (which also sets per-channel "
            "value ranges), or `n_channels` and `n_timepoints`."
        )
    return (
        check_int(n_channels, "n_channels", minimum=1),
        check_int(n_timepoints, "n_timepoints", minimum=2),
        None,
    )


def _realism(
    prototypes: np.ndarray, ref: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, str | None]:
    """Euclidean and DTW distance of each prototype to its nearest reference case."""
    from chronolens.inspection._dtw import dtw_backend, dtw_distance

    if ref is None:
        return None, None, None, None
    n_restarts = len(prototypes)
    flat = ref.reshape(len(ref), -1).astype(np.float64)
    distances = np.sqrt(
        ((prototypes.reshape(n_restarts, -1)[:, None, :] - flat[None]) ** 2).sum(-1)
    )
    nearest = distances.argmin(axis=1)
    euclidean = distances.min(axis=1)
    backend = dtw_backend()
    dtw = np.array([min(dtw_distance(p, r, backend) for r in ref) for p in prototypes])
    return euclidean, dtw, nearest, backend


def maximize(
    model: Any,
    target: int | tuple[Any, int],
    *,
    reference: Any = None,
    n_channels: int | None = None,
    n_timepoints: int | None = None,
    seed: int | None = None,
    n_restarts: int = 4,
    n_steps: int = 200,
    lr: float = 0.05,
    l2: float = 3.0,
    tv: float = 3.0,
    lowpass: float = 30.0,
    cutoff: float = 0.1,
    value_range: str | tuple[float, float] | None = "reference",
    prior_scale: str | float = "auto",
    parameterization: str = "fourier",
    layout: Layout = "ncl",
) -> Prototypes:
    """Activation maximization: series that maximise a class score or one filter of a layer.

    Adam ascends ``f(x) - s * penalties(z)`` from ``n_restarts`` seeded starts at once, where
    ``f`` is the target class's score (explain logits, not probabilities, for a meaningful
    optimum) or the mean activation over time of filter ``filter`` of ``layer``, and ``z`` is the
    series standardised per channel with the reference data's mean and standard deviation (``z = x``
    without reference). After each step every value is clipped to its channel's range. ``s``
    (``prior_scale``) puts the priors in the units of ``f``: by default the standard deviation
    of ``f`` over the reference cases, so that the same weights give the same prototypes
    whether a network's logits span 1 or 100 (Adam is invariant to the scale of the gradient).
    By default Adam moves ``z``'s spectrum scaled by ``1 / f`` rather than its time points
    (``parameterization``; :mod:`chronolens.inspection._ascent`), which keeps prototypes as
    smooth as real series where time-point steps fill them with high-frequency noise.

    Parameters
    ----------
    model : torch.nn.Module, keras.Model or chronolens.models.Model
        Any differentiable classifier (PyTorch, or Keras 3 on any backend); never modified.
    target : int or (layer, filter)
        A class index, or a layer (name or module) and a filter index.
    reference : array-like of shape (n, n_channels, n_timepoints), optional
        Real series: they set the shape, the per-channel value ranges, the standardisation, the
        starts (the channel mean plus noise of the channel's standard deviation) and the
        realism scores.
    n_channels, n_timepoints : int, optional
        The shape without reference data (``n_channels`` defaults to the first layer's input
        channels).
    seed : int, optional
        Seed of the starts; the same seed gives the same prototypes.
    n_restarts : int, default=4
    n_steps : int, default=200
    lr : float, default=0.05
        Adam step size, in standardised units.
    l2 : float, default=3.0
        Weight of the mean squared (standardised) value.
    tv : float, default=3.0
        Weight of the mean absolute difference of neighbouring time points (1-D total variation).
    lowpass : float, default=30.0
        Weight of the spectral energy above ``cutoff``. The default weights (with
        ``prior_scale="auto"`` and the Fourier basis) keep prototypes of the question's CNN
        within 2-2.6 times the roughness of the data, where the weights 0.01 / 0.1 / 1 in the
        time basis gave 18-19 times (``benchmarks/prototypes.py``).
    cutoff : float, default=0.1
        Cutoff frequency in cycles per time point (0.5 is the Nyquist frequency).
    value_range : "reference", (low, high) or None, default="reference"
        Per-channel [min, max] of the reference data, one range for all channels, or none.
    prior_scale : "auto" or float, default="auto"
        Multiplies every penalty. "auto": the standard deviation of the objective over the
        first 64 reference cases (1.0 without reference data, or when it is 0); a number: that
        number (1.0 gives the raw weights).
    parameterization : {"fourier", "time"}, default="fourier"
        What Adam moves: the series' spectrum, each frequency scaled by ``1 / f`` (starts drawn
        with that spectrum), or its time points (white-noise starts).
    layout : {"ncl", "nlc"}, default="ncl"
        Axis order of ``reference``; prototypes come back as (n_restarts, channels, time).

    Returns
    -------
    Prototypes
        Prototypes sorted by final objective, best first, with objective trace, target value,
        predicted class, and Euclidean / DTW distance to the nearest reference series.

    Raises
    ------
    ValueError, TypeError
        For a bad target, shape or parameter.

    Examples
    --------
    >>> import chronolens as cl
    >>> from chronolens.testing import tiny_conv_model
    >>> model = tiny_conv_model(n_channels=3, n_classes=2)
    >>> result = cl.maximize(model, 1, n_timepoints=40, seed=0, n_steps=20)
    >>> result.prototypes.shape
    (4, 3, 40)
    """
    from chronolens.models import adapt

    adapted = adapt(model)
    if not adapted.differentiable:
        raise TypeError(
            "maximize() needs gradients: pass a PyTorch or Keras model, not a black box."
        )
    seed = resolve_seed(seed)
    n_restarts = check_int(n_restarts, "n_restarts", minimum=1)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    lr = check_float(lr, "lr", minimum=0.0, strict_minimum=True)
    l2, tv, lowpass, cutoff, prior_scale = check_priors(l2, tv, lowpass, cutoff, prior_scale)
    check_choice(parameterization, "parameterization", PARAMETERIZATIONS)
    c, t, ref = _shape_and_ranges(adapted, reference, n_channels, n_timepoints, layout)

    if ref is not None:
        mean = ref.mean(axis=(0, 2))
        std = np.maximum(ref.std(axis=(0, 2)), 1e-8)
    else:
        mean, std = np.zeros(c), np.ones(c)
    limits = bounds(value_range, ref, c)
    as_tensor = lambda v: torch.as_tensor(np.asarray(v), dtype=torch.float32)[None, :, None]  # noqa: E731
    mean_t, std_t = as_tensor(mean), as_tensor(std)
    z_limits = None if limits is None else tuple(as_tensor((v - mean) / std) for v in limits)
    generator = torch.Generator().manual_seed(seed)
    start_std = 1.0 if ref is not None else 0.1
    ascent = Ascent((n_restarts, c, t), parameterization, lr, z_limits, generator, start_std)
    trace = np.empty((n_restarts, n_steps))
    with adapted.session():
        objective = _objective(adapted, target, c, t)
        scale = prior_scale_of(adapted, objective.target, objective.layer, ref, prior_scale)
        l2, tv, lowpass = scale * l2, scale * tv, scale * lowpass
        for step in range(n_steps):
            z = ascent.series()
            value, grad_x, _ = adapted.gradient(
                mean_t + std_t * z, objective.target, objective.layer
            )
            with torch.enable_grad():  # the priors' gradient, in z
                leaf = z.detach().requires_grad_(True)
                penalty = penalties(leaf, l2, tv, lowpass, cutoff)
                (grad_penalty,) = torch.autograd.grad(penalty.sum(), leaf)
            trace[:, step] = (value.cpu() - penalty.detach()).numpy()
            # the gradient of -(value - penalty) / s: the same steps whatever the logits' scale
            ascent.step((grad_penalty - std_t * grad_x.cpu()) / max(scale, 1e-12))
        z = ascent.series()
        final = mean_t + std_t * z.detach()
        value, _, _ = adapted.gradient(final, objective.target, objective.layer)
        value = value.cpu()
        out = adapted.scores(final)
        total = value - penalties(z.detach(), l2, tv, lowpass, cutoff)
    order = torch.argsort(total, descending=True).numpy()
    prototypes = final.float().cpu().numpy()[order]
    predicted = None
    if isinstance(out, torch.Tensor) and out.ndim == 2 and not isinstance(target, tuple):
        predicted = predicted_classes(out, binary_kind(out)).cpu().numpy()[order]
    euclidean, dtw, nearest, backend = _realism(prototypes, ref)
    return Prototypes(
        prototypes=prototypes.astype(np.float32),
        objective=trace[order],
        target_value=value.numpy()[order],
        predicted=predicted,
        euclidean=euclidean,
        dtw=dtw,
        nearest=nearest,
        dtw_backend=backend,
        target=target,
        seed=seed,
    )
