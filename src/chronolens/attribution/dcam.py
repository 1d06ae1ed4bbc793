"""Dimension-wise class activation maps (dCAM, Boniol et al., 2022) for dimension-wise networks.

A dimension-wise network (``chronolens.zoo.dcnn`` / ``zoo.dresnet``) reads the cube of a series
``x`` with ``D`` channels: ``cube[i, j] = x[(i + j) % D]``, where ``i`` is the *position* (the
input channel of the 2-D convolutions) and ``j`` the row. Its class activation map has one row
per cube row, ``cam[j, t]``. Feeding the network the series with its channels in a random order
``pi`` puts channel ``d`` at position ``i`` in row ``j = (pi^-1(d) - i) mod D``, so every
permutation tells, for every channel and position, how much class activation the row holding
that channel there carries: ``M[d, i, t] = cam[(pi^-1(d) - i) mod D, t]``.

A channel that does not matter contributes the same wherever it sits, so its ``M[d, i, :]`` does
not depend on the position ``i``; a channel that carries the evidence changes the activation
depending on which filters weights it meets. dCAM is therefore the variance of the averaged
``M`` over positions, weighted by the overall activation in time:

    ``dCAM[d, t] = Var_i(Mbar[d, i, t]) * mean_{d', i}(Mbar[d', i, t])``

with ``Mbar`` the mean of ``M`` over the permutations the network still classifies as the target
class. All permutations of a batch of cases run in one forward pass each; the gather from
rows to (channel, position) and the merge are vectorised.
"""

from __future__ import annotations

import numpy as np
import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens._scaling import min_max
from chronolens._validation import check_bool, check_int, resolve_seed
from chronolens.attribution._receptive_field import layer_centers, to_input_time
from chronolens.attribution._result import MethodResult
from chronolens.models.base import Model
from chronolens.targets import Target

_SPREAD_BYTES = 256 * 2**20


def _check_dimension_wise(model: Model, layer: str, n_channels: int, n_timepoints: int) -> None:
    """Check numerically that some submodule turns the input into the cube ``x[(i + j) % D]``.

    A check of what the network computes, not of module classes, so exported programs
    (``torch.export`` archives, whose modules lose their classes) and users' own cube layers
    pass when they follow the same convention, and a cube of another orientation is refused.
    """
    generator = torch.Generator().manual_seed(0)
    probe = torch.randn(1, n_channels, n_timepoints, generator=generator)
    offsets = torch.arange(n_channels)
    cube = probe[:, (offsets[:, None] + offsets[None, :]) % n_channels]
    outputs = model.module_outputs(probe)  # one forward pass answers both checks
    if not any(
        isinstance(out, torch.Tensor)
        and out.shape == cube.shape
        and torch.allclose(out.detach().float().cpu(), cube, rtol=1e-4, atol=1e-5)
        for _, out in outputs
    ):
        raise ValueError(
            "'dcam' explains dimension-wise networks, whose first step turns the series into the "
            "cube of cyclically shifted channels, cube[:, i, j] = x[:, (i + j) % D] "
            "(chronolens.zoo.DimensionCube); no layer of this model outputs it. Train one with "
            "chronolens.zoo.dcnn or zoo.dresnet, or use 'channel_grad_cam' for a channel x time "
            "map of this model."
        )
    rows = [out.shape[2] for name, out in outputs if name == layer][-1]
    if rows != n_channels:
        raise ValueError(
            f"Layer {layer!r} has {rows} rows for {n_channels} channels; 'dcam' needs a layer of "
            "the dimension-wise part of the network, with one row per cube row."
        )


def permutations(n_permutations: int, n_channels: int, seed: int) -> np.ndarray:
    """Random channel orders, shape (n_permutations, n_channels), from ``seed``.

    Every case uses the same orders, so a case's map does not depend on the other cases.
    """
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n_permutations, n_channels)), axis=-1)


def position_index(orders: torch.Tensor) -> torch.Tensor:
    """Row of the cube that holds channel ``d`` at position ``i``: ``(pi^-1(d) - i) mod D``.

    ``orders`` has shape (rows, D), each row a permutation (``x[:, order]`` is fed to the
    network); the result has shape (rows, D channels, D positions).
    """
    n_dims = orders.shape[-1]
    inverse = torch.argsort(orders, dim=-1)
    positions = torch.arange(n_dims, device=orders.device)
    return (inverse[:, :, None] - positions[None, None, :]) % n_dims


def merge(mean_map: torch.Tensor) -> torch.Tensor:
    """DCAM from the permutation-averaged map ``(n, D channels, D positions, t)``: ``(n, D, t)``.

    The variance over positions of each channel (population variance) times the mean over
    channels and positions.
    """
    variance = mean_map.var(dim=2, unbiased=False)
    return variance * mean_map.mean(dim=(1, 2))[:, None, :]


def dcam(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    layer: str,
    n_permutations: int = 100,
    only_correct: bool = True,
    seed: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """dCAM: a channel x time class activation map from a dimension-wise network.

    The series is fed to the network in ``n_permutations`` random channel orders (``k`` in the
    paper); the class activation map of each cube is spread back over (channel, position) and
    averaged over the permutations that the network still assigns to the target class; dCAM is
    each channel's variance over positions times the mean activation (see the module notes).
    Values are non-negative: large where a channel, at that time, carries the evidence.

    Each cube's map is the CAM of the layer: filters weighted by the gradient of the target
    score averaged over rows and time (for the zoo's global-average-pooling + linear head that
    is the linear layer's weights, the original CAM, up to a positive factor), min-max scaled
    to [0, 1] as in the paper, and carried to input time through the receptive fields.

    Parameters
    ----------
    layer : str
        A layer of the dimension-wise part, output (n, filters, rows, time); by default the
        last one.
    n_permutations : int, default=100
        Random channel orders per case (the paper's ``k``; it uses 100 up to 200).
    only_correct : bool, default=True
        Average only the permutations classified as the target class, as the paper does (a
        case where none is falls back to all of them). False averages all.
    seed : int or None, default=None
        Seed of the permutations (the same ``n_permutations`` orders for every case); the seed
        used is in ``extras["seed"]``.

    Returns
    -------
    MethodResult
        ``case_extras["permutation_success"]``: the fraction of the permutations classified as
        the target class (NaN for a callable target), ``case_extras["n_permutations_used"]``.

    Raises
    ------
    ValueError
        If the model is not a dimension-wise network.

    Notes
    -----
    Costs ``n_permutations`` forward passes of the cube per case, plus a backward pass through
    the layers after ``layer`` (usually only the pooling and the linear head). The paper's
    merge code subtracts the position mean with a NumPy broadcast along the wrong axis; this
    implementation computes the variance over positions that the paper describes.

    References
    ----------
    Boniol, Meftah, Remy, Palpanas (2022). dCAM: Dimension-wise class activation map for
    explaining multivariate data series classification. SIGMOD.
    """
    n_permutations = check_int(n_permutations, "n_permutations", minimum=1)
    check_bool(only_correct, "only_correct")
    seed = resolve_seed(seed)
    n, n_dims, n_timepoints = x.shape
    _check_dimension_wise(model, layer, n_dims, n_timepoints)
    centres, how = layer_centers(model, layer, n_dims, n_timepoints, batch_size)
    orders = torch.from_numpy(permutations(n_permutations, n_dims, seed))
    indices = None if target.indices is None else target.indices.cpu()
    # Each row's map is spread to (D, D, t) values, and each case accumulates two such sums:
    # blocks of cases and batches of rows keep both below 256 MB whatever the data size.
    spread_bytes = 4 * n_dims * n_dims * n_timepoints
    batch_size = max(1, min(batch_size, _SPREAD_BYTES // spread_bytes))
    block = max(1, _SPREAD_BYTES // (2 * spread_bytes))
    maps, successes, used_counts = [], [], []
    progress.start(n * n_permutations)
    for first, last in chunks(n, block):
        totals = torch.zeros(last - first, n_dims, n_dims, n_timepoints)
        kept = torch.zeros_like(totals)
        n_kept = torch.zeros(last - first)
        for start, stop in chunks((last - first) * n_permutations, batch_size):
            rows = torch.arange(start, stop)
            local, which = rows // n_permutations, rows % n_permutations
            case = first + local
            order = orders[which]  # (rows, D)
            permuted = x[case[:, None], order]  # channels in the order `order`
            batch_target = Target(fn=target.fn)
            if indices is not None:
                batch_target = Target(indices=indices[case])
            _, activation, grad, output = model.layer_gradient(
                permuted, batch_target, layer, head_only=True
            )
            weights = grad.mean(dim=(2, 3), keepdim=True)
            cam = (weights * activation).sum(dim=1).cpu()  # (rows, D rows, positions)
            cam = min_max(cam, dims=(1, 2))
            cam = to_input_time(cam, centres, n_timepoints)  # (rows, D, t)
            index = position_index(order)  # (rows, D, D)
            spread = cam[torch.arange(len(rows))[:, None, None], index]  # (rows, D, D, t)
            totals.index_add_(0, local, spread)
            if indices is not None:
                correct = output.argmax(dim=1).cpu() == indices[case]
                kept.index_add_(0, local[correct], spread[correct])
                n_kept.index_add_(0, local, correct.float())
            progress.advance(stop - start)
        if indices is None:
            successes.append(torch.full((last - first,), float("nan")))
            used = torch.full((last - first,), float(n_permutations))
            mean_map = totals / n_permutations
        else:
            successes.append(n_kept / n_permutations)
            use_kept = n_kept > 0 if only_correct else torch.zeros(last - first, dtype=torch.bool)
            used = torch.where(use_kept, n_kept, torch.full_like(n_kept, float(n_permutations)))
            chosen = torch.where(use_kept[:, None, None, None], kept, totals)
            mean_map = chosen / used[:, None, None, None]
        maps.append(merge(mean_map))
        used_counts.append(used)
    return MethodResult(
        torch.cat(maps),
        extras={
            "layer": layer,
            "alignment": how,
            "layer_centers": centres,
            "seed": seed,
            "n_permutations": n_permutations,
        },
        case_extras={
            "permutation_success": torch.cat(successes),
            "n_permutations_used": torch.cat(used_counts).long(),
        },
    )
