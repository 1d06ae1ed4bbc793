"""Multiple-instance-learning heads (MILLET) that make a network explain itself.

MILLET (Early et al., ICLR 2024) treats the feature extractor's output ``(n, d, t')`` as a bag of
``t'`` instances, one per position: a fixed sinusoidal positional encoding is added, dropout is
applied, and a pooling turns the instances into the bag's class logits so that each position's
contribution to them can be read off the same forward pass:

- ``"instance"``: a linear classifier scores every instance, the bag logit is their mean.
- ``"attention"``: an attention head ``Linear -> tanh -> Linear -> sigmoid`` weighs the
  instances, the mean of the weighted instances is classified (interpretation: the attention,
  the same for every class).
- ``"additive"``: the instances are weighted by the attention, then scored, and averaged.
- ``"conjunctive"``: the instances are scored and the attention weighs the scores, then averaged.

:class:`MILHead` passes the per-position class contributions ``(n, k, t')`` through an
``nn.Identity`` named ``interpretation`` and the attention ``(n, 1, t')`` through one named
``attention`` (conjunctive) or ``embedding_attention`` (additive, attention), so any adapter reads
them with ``model.layer_output(x, "head.interpretation")`` and ``explain(model, x, "mil")`` finds
them by name. The bag logit is the mean over time of ``interpretation`` exactly (the classifier's
bias sits inside every position's contribution).

References
----------
Early, Cheung, Cutajar, Xie, Kowalski, Ramamoorthy (2024). Inherently interpretable time series
classification via multiple instance learning. ICLR.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn

from chronolens._validation import check_bool, check_int
from chronolens.zoo.architectures import _ordered, _seeded

POOLINGS = ("instance", "attention", "additive", "conjunctive")


def positional_encoding(d_model: int, n_positions: int) -> torch.Tensor:
    """Fixed sinusoidal positional encoding of shape ``(d_model, n_positions)``.

    Row ``2j`` holds ``sin(p / 10000^(2j / d_model))`` and row ``2j + 1`` holds
    ``cos(p / 10000^(2j / d_model))`` at position ``p`` (Vaswani et al. 2017, as MILLET uses it).
    """
    return encoding_at(d_model, torch.arange(n_positions))


def encoding_at(d_model: int, positions: torch.Tensor) -> torch.Tensor:
    """:func:`positional_encoding` at the given positions: ``(d_model, *positions.shape)``."""
    position = positions.to(torch.float64)[None]
    rate = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(1e4) / d_model))
    angle = rate.view(-1, *([1] * positions.dim())) * position
    pe = torch.zeros(d_model, *positions.shape, dtype=torch.float64)
    pe[0::2] = torch.sin(angle)
    pe[1::2] = torch.cos(angle[: d_model // 2])
    return pe.float()


class PositionalEncoding(nn.Module):
    """Add :func:`positional_encoding` to features ``(n, d, t')``; no parameters."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``x`` plus the encoding of its positions (``0..t'-1``, or ``positions``).

        ``positions`` (n, t') gives each case's own positions, e.g. the original places of the
        time steps kept when some were deleted (MILLET's AOPCR).
        """
        if positions is None:
            pe = positional_encoding(self.d_model, x.shape[-1])
            pe = pe.view(self.d_model, *([1] * (x.dim() - 3)), x.shape[-1])
        else:
            if positions.shape != (x.shape[0], x.shape[-1]):
                raise ValueError(
                    f"`positions` must give one position per case and feature step, shape "
                    f"({x.shape[0]}, {x.shape[-1]}); got {tuple(positions.shape)}. Positions "
                    "apply to backbones that keep the series length."
                )
            pe = encoding_at(self.d_model, positions).transpose(0, 1)  # (n, d, t')
            pe = pe.view(x.shape[0], self.d_model, *([1] * (x.dim() - 3)), x.shape[-1])
        return x + pe.to(device=x.device, dtype=x.dtype)


class MILHead(nn.Module):
    """MILLET pooling head: features ``(n, d, t')`` -> bag logits ``(n, k)``.

    Linear maps act per position (``Conv1d`` of kernel 1), so every layer's output keeps the time
    axis last. See :mod:`chronolens.zoo.mil` for the poolings and the named layers. With
    ``dims=2`` the instances are (channel, time) pairs: features ``(n, d, c, t')``, linear maps
    ``Conv2d`` of kernel 1, contributions ``(n, k, c, t')`` averaged over both axes.
    """

    def __init__(
        self,
        d_model: int,
        n_classes: int,
        pooling: str = "conjunctive",
        *,
        dropout: float = 0.1,
        positional_encoding: bool = True,
        d_attn: int = 8,
        dims: int = 1,
    ) -> None:
        super().__init__()
        self.pooling = pooling
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.positional_encoding: nn.Module = (
            PositionalEncoding(d_model) if positional_encoding else nn.Identity()
        )
        self.dropout = nn.Dropout(dropout)
        if pooling != "instance":
            self.attention_head = nn.Sequential(
                conv(d_model, d_attn, 1), nn.Tanh(), conv(d_attn, 1, 1), nn.Sigmoid()
            )
        if pooling == "conjunctive":
            self.attention = nn.Identity()
        elif pooling != "instance":
            self.embedding_attention = nn.Identity()
        self.classifier = conv(d_model, n_classes, 1)
        if pooling != "attention":
            self.interpretation = nn.Identity()

    def forward(
        self, features: torch.Tensor, positions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Return the bag logits; the interpretation passes through the named identities."""
        if positions is not None and isinstance(self.positional_encoding, PositionalEncoding):
            features = self.positional_encoding(features, positions)
        else:
            features = self.positional_encoding(features)
        z = self.dropout(features)
        instances = tuple(range(2, z.dim()))  # time, or (channel, time)
        if self.pooling == "instance":
            return self.interpretation(self.classifier(z)).mean(dim=instances)
        if self.pooling == "conjunctive":
            weights = self.attention(self.attention_head(z))
            return self.interpretation(weights * self.classifier(z)).mean(dim=instances)
        weights = self.embedding_attention(self.attention_head(z))
        contributions = self.classifier(z * weights)  # mean over time: W mean(a z) + b exactly
        if self.pooling == "attention":
            return contributions.mean(dim=instances)
        return self.interpretation(contributions).mean(dim=instances)


class MIL(nn.Module):
    """A feature extractor followed by a :class:`MILHead`: ``head(backbone(x))``."""

    def __init__(self, backbone: nn.Module, head: MILHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Return the bag logits ``(n, n_classes)``.

        ``positions`` (n, t), optional: each time step's position for the encoding (default
        ``0..t-1``); :func:`chronolens.metrics.aopcr` passes the original positions of the
        steps it keeps, as MILLET does.
        """
        return self.head(self.backbone(x), positions)


def replicate_padding(module: nn.Module) -> nn.Module:
    """Return a copy of ``module`` whose Conv1d layers pad by replication, keeping the length.

    Every ``Conv1d`` becomes ``padding="same", padding_mode="replicate"`` (as MILLET's backbones
    are built), with its weights; the input is not modified. Needs stride 1 (what "same" needs).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"`module` must be a torch.nn.Module; got {type(module).__name__}.")
    copied = copy.deepcopy(module)
    for name, conv in list(copied.named_modules()):
        if not isinstance(conv, nn.Conv1d):
            continue
        if conv.stride != (1,):
            raise ValueError(
                f"Conv1d {name!r} has stride {conv.stride[0]}; replicate 'same' padding needs "
                "stride 1. Downsample with a pooling layer instead, or pass padding='keep'."
            )
        conv.padding_mode = "replicate"
        conv.padding = "same"
        total = [conv.dilation[0] * (conv.kernel_size[0] - 1)]
        left = total[0] // 2
        conv._reversed_padding_repeated_twice = [left, total[0] - left]
    return copied


def _infer_width(backbone: nn.Module) -> int:
    for module in reversed(list(backbone.modules())):
        if isinstance(module, nn.Conv1d):
            return int(module.out_channels)
        if isinstance(module, nn.BatchNorm1d):
            return int(module.num_features)
    raise ValueError(
        "Cannot tell the backbone's feature width (no Conv1d or BatchNorm1d in it); pass "
        "`d_model`, the d of the backbone's (n, d, t') output."
    )


def mil(
    backbone: nn.Module,
    n_classes: int,
    pooling: str = "conjunctive",
    *,
    d_model: int | None = None,
    dropout: float = 0.1,
    positional_encoding: bool = True,
    d_attn: int = 8,
    padding: str = "keep",
    seed: int = 0,
) -> MIL:
    """Wrap a feature extractor with a MILLET head: a network that explains itself.

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps ``(n, c, t)`` to features ``(n, d, t')``: e.g. ``zoo.fcn(c, k)[:-3]`` (the FCN up to
        its last ReLU), ``zoo.resnet(c, k).blocks`` or a module of your own. Used as given
        (trained along with the head) unless ``padding="replicate"``, which uses a copy.
    n_classes : int
    pooling : {"conjunctive", "instance", "additive", "attention"}, default="conjunctive"
        How instances become the bag logit (see :mod:`chronolens.zoo.mil`).
    d_model : int, optional
        Feature width ``d``; default: the backbone's last Conv1d / BatchNorm1d width.
    dropout : float, default=0.1
        Dropout on the instances after the positional encoding.
    positional_encoding : bool, default=True
        Add the fixed sinusoidal encoding of each position to its features.
    d_attn : int, default=8
        Hidden width of the attention head.
    padding : {"keep", "replicate"}, default="keep"
        "replicate" switches a copy of the backbone's Conv1d layers to replicate "same" padding
        (as MILLET's backbones), keeping the output length; "keep" leaves them as they are.
    seed : int, default=0
        Seed of the head's initialisation (the backbone keeps its weights).

    Returns
    -------
    MIL
        Logits ``(n, n_classes)``; ``explain(model, x, "mil")`` reads its interpretation.
    """
    if not isinstance(backbone, nn.Module):
        raise TypeError(f"`backbone` must be a torch.nn.Module; got {type(backbone).__name__}.")
    check_int(n_classes, "n_classes", minimum=2)
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {', '.join(POOLINGS)}; got {pooling!r}.")
    if padding not in ("keep", "replicate"):
        raise ValueError(f"`padding` must be 'keep' or 'replicate'; got {padding!r}.")
    if not (isinstance(dropout, float | int) and 0 <= dropout < 1):
        raise ValueError(f"`dropout` must be a number in [0, 1); got {dropout!r}.")
    check_bool(positional_encoding, "positional_encoding")
    check_int(d_attn, "d_attn", minimum=1)
    width = _infer_width(backbone) if d_model is None else d_model
    check_int(width, "d_model", minimum=1)
    if padding == "replicate":
        backbone = replicate_padding(backbone)

    def build() -> MILHead:
        return MILHead(
            width,
            n_classes,
            pooling,
            dropout=float(dropout),
            positional_encoding=positional_encoding,
            d_attn=d_attn,
        )

    return MIL(backbone, _seeded(seed, build))


class ChannelStreams(nn.Module):
    """Grouped features ``(n, c * d, t')`` -> instances ``(n, d, c, t')``, one row per sensor."""

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        self.n_channels = n_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Split the grouped convolution's output into its channel streams."""
        n, width, t = x.shape
        return x.view(n, self.n_channels, width // self.n_channels, t).transpose(1, 2)


def mil_channels(
    n_channels: int,
    n_classes: int,
    pooling: str = "conjunctive",
    *,
    filters: Sequence[int] = (16, 16),
    kernel_sizes: Sequence[int] = (7, 5),
    mixer: bool = False,
    dropout: float = 0.1,
    positional_encoding: bool = True,
    d_attn: int = 8,
    seed: int = 0,
) -> MIL:
    """A MIL network whose instances are (channel, time) pairs: an exact channel x time map.

    Each channel has its own stream of grouped Conv1d ("same", replicate padding) -> BatchNorm ->
    ReLU blocks, so an instance's embedding sees one sensor only (unless ``mixer=True`` adds a
    1x1 convolution across all streams after the last block). The :class:`MILHead` pools the
    ``c * t'`` instances; ``explain(model, x, "mil")`` returns the ``(n, c, t)`` contributions,
    whose mean over channels and time on the layer's positions is the logit exactly.

    Parameters
    ----------
    n_channels, n_classes : int
    pooling : {"conjunctive", "instance", "additive", "attention"}, default="conjunctive"
    filters, kernel_sizes : sequence of int
        Filters per channel and kernel of each block.
    mixer : bool, default=False
        Mix the channel streams with a 1x1 convolution after the last block.
    dropout, positional_encoding, d_attn, seed
        As in :func:`mil` (the encoding is of time, shared by the channels).
    """
    check_int(n_channels, "n_channels", minimum=1)
    check_int(n_classes, "n_classes", minimum=2)
    check_bool(mixer, "mixer")
    if len(filters) != len(kernel_sizes) or not filters:
        raise ValueError("`filters` and `kernel_sizes` must be non-empty and of the same length.")
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {', '.join(POOLINGS)}; got {pooling!r}.")

    def build() -> MIL:
        layers: dict[str, nn.Module] = {}
        width = 1
        for block, (out, kernel) in enumerate(zip(filters, kernel_sizes, strict=True), start=1):
            layers[f"conv{block}"] = nn.Conv1d(
                n_channels * width,
                n_channels * out,
                kernel,
                padding="same",
                padding_mode="replicate",
                groups=n_channels,
            )
            layers[f"bn{block}"] = nn.BatchNorm1d(n_channels * out)
            layers[f"relu{block}"] = nn.ReLU()
            width = out
        if mixer:
            layers["mixer"] = nn.Conv1d(n_channels * width, n_channels * width, 1)
        layers["streams"] = ChannelStreams(n_channels)
        head = MILHead(
            width,
            n_classes,
            pooling,
            dropout=float(dropout),
            positional_encoding=positional_encoding,
            d_attn=d_attn,
            dims=2,
        )
        return MIL(nn.Sequential(_ordered(layers)), head)

    return _seeded(seed, build)
