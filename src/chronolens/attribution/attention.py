"""Attention weights of a model that attends over time, read as a map.

Convention: the attention weights ``(n, 1, t')`` (chronolens layout; ``(n, t', 1)`` inside a Keras
model) are the output of a layer whose name ends in ``attention_weights``
(:func:`chronolens.zoo.attention_rnn` names it ``attention.attention_weights``; the Keras layer
:class:`chronolens.keras.AttentionWeights` is named so by default), or of the layer the user names
with ``attention_layer=``. The weights are read through the protocol (``model.layer_output``).
When the layer has as many positions as the series (a recurrent network: position ``s`` is time
step ``s``), the map is the weights themselves; otherwise (attention after a convolutional stack)
each position is placed at the centre of its receptive field and interpolated, as for every CAM.

Attention weights are not an explanation of the class: they are the same for every class, and a
high weight need not mean the model's output depends on that time step (see the benchmark
``benchmarks/attention_faithfulness.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from chronolens._batching import chunks
from chronolens._progress import SILENT, Progress
from chronolens.attribution._receptive_field import layer_centers, to_input_time
from chronolens.attribution._result import MethodResult
from chronolens.models.base import CapabilityError, Model
from chronolens.targets import Target

SUFFIX = "attention_weights"
_WORKING = "'integrated_gradients', 'saliency' or 'occlusion'"


def find_attention_layer(model: Model, attention_layer: str | None = None) -> str:
    """The layer holding the attention weights, or raise CapabilityError naming the fix."""
    if not model.reads_layers:
        raise CapabilityError(
            "'attention' reads the model's attention layer, and this model's layers cannot be "
            f"read. Explain it with {_WORKING}."
        )
    names = model.layers()
    if attention_layer is not None:
        if not isinstance(attention_layer, str) or attention_layer not in names:
            raise ValueError(
                f"`attention_layer`={attention_layer!r} is not a layer of this model; give one of "
                f"its layer names (model layers: {', '.join(names[:12])}"
                f"{', ...' if len(names) > 12 else ''})."
            )
        return attention_layer
    found = [n for n in names if n.replace("/", ".").rsplit(".", 1)[-1].endswith(SUFFIX)]
    if not found:
        raise CapabilityError(
            "'attention' reads attention weights, and this model has no layer whose name ends in "
            f"{SUFFIX!r}. Build one with chronolens.zoo.attention_rnn(n_channels, n_classes) (or "
            "chronolens.keras.AttentionWeights in Keras), pass `attention_layer=` naming the "
            f"layer that outputs the weights, or explain this model with {_WORKING}."
        )
    if len(found) > 1:
        raise ValueError(
            f"This model has several attention layers ({', '.join(found)}); choose one with "
            "`attention_layer=`."
        )
    return found[0]


def _weights(model: Model, x: torch.Tensor, layer: str) -> torch.Tensor:
    out = model.layer_output(x, layer).detach().cpu().float()
    if out.ndim != 3 or out.shape[1] != 1:
        raise ValueError(
            f"'attention' expects layer {layer!r} to output weights of shape (n, 1, positions) "
            f"(Keras: (n, positions, 1)), got {tuple(out.shape)}; name the layer that outputs "
            "the weights with `attention_layer=`."
        )
    return out[:, 0, :]


def _states_layer(
    model: Model, layer: str, n_positions: int, n_channels: int, n_timepoints: int
) -> str:
    """The last layer before the attention block with ``n_positions`` positions on its time axis."""
    names = model.layers()
    parent = layer.replace("/", ".").rsplit(".", 1)[0] if "." in layer.replace("/", ".") else layer
    index = names.index(parent) if parent in names else names.index(layer)
    probe = torch.zeros(1, n_channels, n_timepoints)
    for name in reversed(names[:index]):
        try:
            out = model.layer_output(probe, name)
        except (ValueError, CapabilityError):
            continue
        if out.ndim == 3 and out.shape[-1] == n_positions:
            return name
    raise ValueError(
        f"'attention' cannot place the {n_positions} positions of layer {layer!r} in input time: "
        "no earlier layer has that many positions on its time axis."
    )


def attention(
    model: Model,
    x: torch.Tensor,
    target: Target,
    *,
    attention_layer: str | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> MethodResult:
    """The model's attention weights over time, aligned to input time.

    Class-agnostic: ``target`` does not change the map (``extras["class_agnostic"]`` is True).
    Non-negative; for a softmax attention each case's layer map sums to 1.

    Parameters
    ----------
    attention_layer : str, optional
        The layer outputting the weights; default: the one layer whose name ends in
        ``attention_weights``.
    """
    del target  # the weights are the same for every class
    layer = find_attention_layer(model, attention_layer)
    maps = []
    progress.start(x.shape[0])
    for start, stop in chunks(x.shape[0], batch_size):
        maps.append(_weights(model, x[start:stop], layer))
        progress.advance(stop - start)
    layer_map = torch.cat(maps)
    _, n_channels, n_timepoints = x.shape
    if layer_map.shape[-1] == n_timepoints:
        # One position per time step (a recurrent network): no receptive field to probe; a
        # bidirectional RNN's state at step s sees the whole series, so probing would say nothing.
        centres, how = np.arange(n_timepoints, dtype=float), "identity (one position per step)"
        values = layer_map
    else:
        # Softmax mixes every position, so the weights layer has no local receptive field: the
        # positions are those of the states the attention reads (the last layer before it).
        source = _states_layer(model, layer, layer_map.shape[-1], n_channels, n_timepoints)
        centres, how = layer_centers(model, source, n_channels, n_timepoints, batch_size)
        how = f"{how} (positions of {source!r}, the states attended over)"
        values = to_input_time(layer_map, centres, n_timepoints)
    return MethodResult(
        values[:, None, :],
        extras={
            "layer": layer,
            "alignment": how,
            "layer_centers": centres,
            "class_agnostic": True,
        },
        case_extras={"layer_map": layer_map},
    )
