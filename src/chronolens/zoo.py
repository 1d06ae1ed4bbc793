"""Reference time-series classifiers (PyTorch) and a small training loop.

- :func:`conv1d_classifier`: the common hand-built 1-D CNN, two blocks of Conv1d (kernel 9,
  "valid") -> BatchNorm -> ReLU -> MaxPool(5), then Flatten -> Linear.
- :func:`fcn`: the fully convolutional network of Wang et al. (2017), global average pooling +
  linear head: the classic CAM network.
- :func:`resnet`: the 1-D ResNet of Wang et al. (2017).
- :func:`dcnn`, :func:`dresnet`: the dimension-wise networks of Boniol et al. (2022), which read
  the "cube" of cyclically shifted channels (:class:`DimensionCube`) and are explained channel by
  channel with the ``dcam`` method. They take the ordinary ``(n, channels, time)`` series.

Each builder takes a ``seed`` and initialises its weights from it without touching torch's global
random state.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from chronolens._validation import check_int


def _seeded(seed: int, build: Any) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def conv1d_classifier(
    n_channels: int,
    n_timepoints: int,
    n_classes: int,
    *,
    filters: int = 128,
    kernel_size: int = 9,
    pool_size: int = 5,
    seed: int = 0,
) -> nn.Sequential:
    """Two Conv1d -> BatchNorm -> ReLU -> MaxPool blocks, then Flatten -> Linear.

    The architecture users most often hand-build for multivariate sensor data (Keras:
    ``Conv1D(128, 9) -> BatchNormalization -> Activation -> MaxPooling1D(5)``, twice, ``Flatten ->
    Dense``), with "valid" padding as in Keras.

    Parameters
    ----------
    n_channels, n_timepoints, n_classes : int
        Input channels, series length and number of classes.
    filters : int, default=128
        Filters of both convolutions.
    kernel_size : int, default=9
    pool_size : int, default=5
    seed : int, default=0
        Seed of the weight initialisation.

    Returns
    -------
    torch.nn.Sequential
        Named layers ``conv1, bn1, relu1, pool1, conv2, bn2, relu2, pool2, flatten, fc``.
    """
    check_int(n_channels, "n_channels", minimum=1)
    check_int(n_classes, "n_classes", minimum=2)
    length = n_timepoints
    for _ in range(2):
        length = (length - kernel_size + 1) // pool_size
    minimum = pool_size * (pool_size + kernel_size - 1) + kernel_size - 1
    if length < 1:
        raise ValueError(
            f"`n_timepoints`={n_timepoints} is too short for two blocks of kernel {kernel_size} "
            f"and pooling {pool_size}; use at least {minimum}."
        )

    def build() -> nn.Sequential:
        layers: dict[str, nn.Module] = {}
        width = n_channels
        for block in (1, 2):
            layers[f"conv{block}"] = nn.Conv1d(width, filters, kernel_size)
            layers[f"bn{block}"] = nn.BatchNorm1d(filters)
            layers[f"relu{block}"] = nn.ReLU()
            layers[f"pool{block}"] = nn.MaxPool1d(pool_size)
            width = filters
        layers["flatten"] = nn.Flatten()
        layers["fc"] = nn.Linear(filters * length, n_classes)
        return nn.Sequential(_ordered(layers))

    return _seeded(seed, build)


def _ordered(layers: dict[str, nn.Module]) -> Any:
    from collections import OrderedDict

    return OrderedDict(layers)


def fcn(
    n_channels: int,
    n_classes: int,
    *,
    filters: Sequence[int] = (128, 256, 128),
    kernel_sizes: Sequence[int] = (8, 5, 3),
    seed: int = 0,
) -> nn.Sequential:
    """Fully convolutional network (Wang et al., 2017) with a global-average-pooling head.

    Three Conv1d ("same" padding) -> BatchNorm -> ReLU blocks, global average pooling and a
    linear layer: the network class activation maps were designed for.

    Returns
    -------
    torch.nn.Sequential
        Named layers ``conv1, bn1, relu1, ..., relu3, gap, flatten, fc``.

    References
    ----------
    Wang, Yan, Oates (2017). Time series classification from scratch with deep neural networks:
    a strong baseline. IJCNN.
    """
    if len(filters) != len(kernel_sizes):
        raise ValueError("`filters` and `kernel_sizes` must have the same length.")

    def build() -> nn.Sequential:
        layers: dict[str, nn.Module] = {}
        width = n_channels
        for block, (out, kernel) in enumerate(zip(filters, kernel_sizes), start=1):
            layers[f"conv{block}"] = nn.Conv1d(width, out, kernel, padding="same")
            layers[f"bn{block}"] = nn.BatchNorm1d(out)
            layers[f"relu{block}"] = nn.ReLU()
            width = out
        layers["gap"] = nn.AdaptiveAvgPool1d(1)
        layers["flatten"] = nn.Flatten()
        layers["fc"] = nn.Linear(width, n_classes)
        return nn.Sequential(_ordered(layers))

    return _seeded(seed, build)


def _conv(dims: int, in_channels: int, out_channels: int, kernel: int) -> nn.Module:
    """A "same"-padded convolution along time: Conv1d, or Conv2d with a (1, kernel) kernel."""
    if dims == 1:
        return nn.Conv1d(in_channels, out_channels, kernel, padding="same")
    return nn.Conv2d(in_channels, out_channels, (1, kernel), padding="same")


def _norm(dims: int, channels: int) -> nn.Module:
    return nn.BatchNorm1d(channels) if dims == 1 else nn.BatchNorm2d(channels)


class ResidualBlock(nn.Module):
    """Three convolutions (kernels 8, 5, 3) with a 1x1-convolution shortcut.

    ``dims=2`` makes the dimension-wise block of :class:`DResNet`: the same along time, with
    (1, k) kernels over the rows of the cube.
    """

    def __init__(self, in_channels: int, out_channels: int, dims: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv(dims, in_channels, out_channels, 8)
        self.bn1 = _norm(dims, out_channels)
        self.conv2 = _conv(dims, out_channels, out_channels, 5)
        self.bn2 = _norm(dims, out_channels)
        self.conv3 = _conv(dims, out_channels, out_channels, 3)
        self.bn3 = _norm(dims, out_channels)
        self.shortcut = nn.Sequential(
            _conv(dims, in_channels, out_channels, 1), _norm(dims, out_channels)
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """1-D ResNet of Wang et al. (2017): residual blocks, global average pooling, linear."""

    def __init__(self, n_channels: int, n_classes: int, filters: Sequence[int]) -> None:
        super().__init__()
        widths = [n_channels, *filters]
        self.blocks = nn.Sequential(*(ResidualBlock(a, b) for a, b in itertools.pairwise(widths)))
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits."""
        return self.fc(self.gap(self.blocks(x)).flatten(1))


def resnet(
    n_channels: int, n_classes: int, *, filters: Sequence[int] = (64, 128, 128), seed: int = 0
) -> ResNet:
    """1-D ResNet (Wang et al., 2017): three residual blocks, global average pooling, linear.

    References
    ----------
    Wang, Yan, Oates (2017). Time series classification from scratch with deep neural networks:
    a strong baseline. IJCNN.
    """
    return _seeded(seed, lambda: ResNet(n_channels, n_classes, filters))  # type: ignore[return-value]


class DimensionCube(nn.Module):
    """Turn a series ``(n, D, t)`` into the cube ``(n, D, D, t)`` of cyclically shifted channels.

    ``cube[:, i, j] = x[:, (i + j) % D]``: axis 1 (the input channels of the 2-D convolutions that
    follow) is the *position* ``i``, axis 2 the row ``j``. Every row holds every channel once, in
    the same cyclic order starting at a different channel, so a (1, k) convolution sees each
    channel in every position across the rows. Boniol et al. (2022) call this C(T).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the cube."""
        n_dims = x.shape[1]
        offsets = torch.arange(n_dims, device=x.device)
        index = (offsets[:, None] + offsets[None, :]) % n_dims
        return x[:, index]


class DCNN(nn.Module):
    """Dimension-wise CNN (Boniol et al., 2022): cube, (1, k) conv blocks, GAP, linear."""

    def __init__(
        self, n_channels: int, n_classes: int, filters: Sequence[int], kernel_size: int
    ) -> None:
        super().__init__()
        self.cube = DimensionCube()
        layers: dict[str, nn.Module] = {}
        widths = [n_channels, *filters]
        for block, (a, b) in enumerate(itertools.pairwise(widths), start=1):
            layers[f"conv{block}"] = _conv(2, a, b, kernel_size)
            if block < len(filters):  # the paper's last convolution has no batch norm
                layers[f"bn{block}"] = _norm(2, b)
            layers[f"relu{block}"] = nn.ReLU()
        self.features = nn.Sequential(_ordered(layers))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits for series ``(n, n_channels, n_timepoints)``."""
        return self.fc(self.gap(self.features(self.cube(x))).flatten(1))


class DResNet(nn.Module):
    """Dimension-wise ResNet (Boniol et al., 2022): cube, 2-D residual blocks, GAP, linear."""

    def __init__(self, n_channels: int, n_classes: int, filters: Sequence[int]) -> None:
        super().__init__()
        self.cube = DimensionCube()
        widths = [n_channels, *filters]
        self.blocks = nn.Sequential(
            *(ResidualBlock(a, b, dims=2) for a, b in itertools.pairwise(widths))
        )
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits for series ``(n, n_channels, n_timepoints)``."""
        return self.fc(self.gap(self.blocks(self.cube(x))).flatten(1))


def _check_filters(filters: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(check_int(f, "filters", minimum=1) for f in filters)
    if not widths:
        raise ValueError("`filters` must name at least one layer width.")
    return widths


def dcnn(
    n_channels: int,
    n_classes: int,
    *,
    filters: Sequence[int] = (64, 64, 128, 128),
    kernel_size: int = 3,
    seed: int = 0,
) -> DCNN:
    """Dimension-wise CNN of Boniol et al. (2022), explained per channel by ``dcam``.

    The input series ``(n, D, t)`` becomes the cube ``(n, D, D, t)`` (:class:`DimensionCube`),
    read by 2-D convolutions with (1, ``kernel_size``) kernels and "same" padding, each followed
    by batch norm (except the last) and ReLU, then global average pooling over rows and time and
    a linear layer. The model takes ordinary series, so ``fit()``, ``accuracy()`` and every other
    method work on it unchanged.

    Parameters
    ----------
    n_channels, n_classes : int
    filters : sequence of int, default=(64, 64, 128, 128)
        Widths of the convolutions. The paper uses (128, 128, 256, 256, 256) on a GPU; the
        default is lighter for CPUs (the cube makes every layer ``D`` times more expensive
        than its 1-D counterpart).
    kernel_size : int, default=3
    seed : int, default=0

    References
    ----------
    Boniol, Meftah, Remy, Palpanas (2022). dCAM: Dimension-wise class activation map for
    explaining multivariate data series classification. SIGMOD.

    Examples
    --------
    >>> import torch
    >>> from chronolens import zoo
    >>> model = zoo.dcnn(5, 2, filters=(8, 8))
    >>> model(torch.zeros(3, 5, 40)).shape
    torch.Size([3, 2])
    """
    n_channels = check_int(n_channels, "n_channels", minimum=1)
    n_classes = check_int(n_classes, "n_classes", minimum=1)
    widths = _check_filters(filters)
    kernel_size = check_int(kernel_size, "kernel_size", minimum=1)
    return _seeded(seed, lambda: DCNN(n_channels, n_classes, widths, kernel_size))  # type: ignore[return-value]


def dresnet(
    n_channels: int, n_classes: int, *, filters: Sequence[int] = (32, 64, 64), seed: int = 0
) -> DResNet:
    """Dimension-wise ResNet of Boniol et al. (2022), explained per channel by ``dcam``.

    :func:`resnet`'s three residual blocks (kernels 8, 5, 3 along time) as 2-D convolutions with
    (1, k) kernels over the cube of cyclically shifted channels (:class:`DimensionCube`), then
    global average pooling and a linear layer. Takes ordinary ``(n, D, t)`` series.

    Parameters
    ----------
    n_channels, n_classes : int
    filters : sequence of int, default=(32, 64, 64)
        Block widths; the paper uses (64, 128, 128) on a GPU.
    seed : int, default=0

    References
    ----------
    Boniol, Meftah, Remy, Palpanas (2022). dCAM: Dimension-wise class activation map for
    explaining multivariate data series classification. SIGMOD.
    """
    n_channels = check_int(n_channels, "n_channels", minimum=1)
    n_classes = check_int(n_classes, "n_classes", minimum=1)
    widths = _check_filters(filters)
    return _seeded(seed, lambda: DResNet(n_channels, n_classes, widths))  # type: ignore[return-value]


def fit(
    model: nn.Module,
    X: Any,
    y: Any,
    *,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    X_val: Any = None,
    y_val: Any = None,
    restore_best: bool = False,
    progress: bool | None = None,
) -> dict[str, list[float]]:
    """Train a classifier with Adam and cross-entropy; the model is left in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place.
    X : array-like of shape (n_cases, n_channels, n_timepoints)
    y : array-like of shape (n_cases,)
        Integer class labels.
    epochs, batch_size : int
    lr, weight_decay : float
    seed : int, default=0
        Seed of the shuffling (and of dropout), without touching torch's global random state.
    X_val, y_val : array-like, optional
        Validation data; its accuracy is recorded each epoch.
    restore_best : bool, default=False
        With validation data: leave the model with the weights of the epoch of highest
        validation accuracy (the first such epoch), not those of the last epoch. The epoch is
        in ``history["best_epoch"]`` (0-based).
    progress : bool or None, default=None
        Show a progress bar over epochs (None: only if training takes over 2 seconds).

    Returns
    -------
    dict
        ``{"loss": [...], "accuracy": [...], "val_accuracy": [...]}`` per epoch, and
        ``"best_epoch": [epoch]`` with ``restore_best``.
    """
    from chronolens._progress import Progress
    from chronolens.series import as_series

    inputs = torch.from_numpy(as_series(X))
    labels = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if len(labels) != len(inputs):
        raise ValueError(f"`y` has {len(labels)} labels for {len(inputs)} cases.")
    validation = None
    if X_val is not None:
        validation = (torch.from_numpy(as_series(X_val)), torch.as_tensor(np.asarray(y_val)))
    if restore_best and validation is None:
        raise ValueError("`restore_best=True` needs validation data: pass `X_val` and `y_val`.")
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_accuracy": []}
    bar = Progress(progress, description="training", unit="epoch")
    bar.start(epochs)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _ in range(epochs):
                model.train()
                order = torch.randperm(len(inputs), generator=generator)
                total, correct = 0.0, 0
                for start in range(0, len(inputs), batch_size):
                    batch = order[start : start + batch_size]
                    if len(batch) < 2 and len(inputs) > 1:
                        continue  # batch norm needs two cases
                    logits = model(inputs[batch])
                    loss = nn.functional.cross_entropy(logits, labels[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(batch)
                    correct += int((logits.argmax(1) == labels[batch]).sum())
                history["loss"].append(total / len(inputs))
                history["accuracy"].append(correct / len(inputs))
                if validation is not None:
                    history["val_accuracy"].append(accuracy(model, *validation))
                    if restore_best and (best is None or history["val_accuracy"][-1] > best[0]):
                        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                        best = (history["val_accuracy"][-1], len(history["loss"]) - 1, state)
                bar.advance(1)
            if best is not None:
                model.load_state_dict(best[2])
                history["best_epoch"] = [best[1]]
    finally:
        bar.close()
        model.eval()
        optimizer.zero_grad(set_to_none=True)
    return history


def accuracy(model: nn.Module, X: Any, y: Any, batch_size: int = 256) -> float:
    """Fraction of cases whose predicted class (argmax of the output) equals ``y``."""
    from chronolens.series import as_series

    inputs = torch.from_numpy(as_series(X))
    labels = torch.as_tensor(np.asarray(y))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            predicted = torch.cat(
                [
                    model(inputs[i : i + batch_size]).argmax(1)
                    for i in range(0, len(inputs), batch_size)
                ]
            )
    finally:
        model.train(was_training)
    return float((predicted == labels).float().mean())
