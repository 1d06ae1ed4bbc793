"""A small training loop for the zoo's classifiers: :func:`fit` and :func:`accuracy`."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from chronolens._deprecation import renamed_keyword


@renamed_keyword("X_val", "x_val")
@renamed_keyword("X", "x")
def fit(
    model: nn.Module,
    x: Any,
    y: Any,
    *,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    x_val: Any = None,
    y_val: Any = None,
    validation: float | None = None,
    patience: int | None = None,
    restore_best: bool = False,
    plateau: int | None = None,
    progress: bool | None = None,
) -> dict[str, list[Any]]:
    """Train a classifier with Adam and cross-entropy; the model is left in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place.
    x : array-like of shape (n_cases, n_channels, n_timepoints)
    y : array-like of shape (n_cases,)
        Integer class labels.
    epochs, batch_size : int
        ``epochs`` is the most epochs run (fewer with ``patience``).
    lr, weight_decay : float
    seed : int, default=0
        Seed of the shuffling, of the validation split and of dropout, without touching torch's
        global random state.
    x_val, y_val : array-like, optional
        Validation data; its loss and accuracy are recorded each epoch.
    validation : float, optional
        Instead of ``x_val``: hold out this fraction of ``(x, y)`` (per class, at least one
        case of each class with two or more, seeded) as validation data, trained on the rest.
        The held-out cases are in ``history["validation_cases"]``.
    patience : int, optional
        Early stopping (needs validation data): stop once the validation loss has not improved
        for ``patience`` epochs, and leave the model with the weights of the epoch of lowest
        validation loss (``history["best_epoch"]``, 0-based; ``history["epochs_run"]``).
    restore_best : bool, default=False
        Without ``patience``, with validation data: leave the model with the weights of the
        epoch of highest validation accuracy (the first such epoch), not those of the last
        epoch. The epoch is in ``history["best_epoch"]`` (0-based).
    plateau : int, optional
        Halve the learning rate whenever the training loss has not improved (by 1e-4) for
        ``plateau`` epochs in a row, down to ``min(lr, 1e-4)``: the protocol of the published
        FCN and ResNet results (Fawaz et al. 2019: ``ReduceLROnPlateau(factor=0.5,
        patience=50, min_lr=1e-4)`` on the training loss). The rate of each epoch is in
        ``history["lr"]``.
    progress : bool or None, default=None
        Show a progress bar over epochs (None: only if training takes over 2 seconds).

    Returns
    -------
    dict
        ``{"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]}`` per
        epoch run, and ``"best_epoch": [epoch]`` with ``restore_best`` or ``patience``.
    """
    from chronolens._progress import Progress

    inputs, labels, validation_data, held_out = _split(x, y, x_val, y_val, validation, seed)
    if patience is not None:
        patience = _check_patience(patience, validation_data)
    if restore_best and validation_data is None:
        raise ValueError(
            "`restore_best=True` needs validation data: pass `x_val` and `y_val`, or "
            "`validation=0.2`."
        )
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = _plateau_schedule(optimizer, plateau, lr)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[Any]] = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    _, classes = encode_labels(y)
    if classes is not None:
        history["classes"] = classes
    if held_out is not None:
        history["validation_cases"] = held_out.tolist()
    bar = Progress(progress, description="training", unit="epoch")
    bar.start(epochs)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for epoch in range(epochs):
                loss, train_acc = _epoch(model, optimizer, inputs, labels, batch_size, generator)
                history["loss"].append(loss)
                history["accuracy"].append(train_acc)
                if schedule is not None:
                    history.setdefault("lr", []).append(optimizer.param_groups[0]["lr"])
                    schedule.step(loss)
                bar.advance(1)
                if validation_data is None:
                    continue
                val_loss, val_acc = _evaluate(model, *validation_data)
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(val_acc)
                # lower loss (early stopping), or higher accuracy (restore_best alone)
                value = val_loss if patience is not None else -val_acc
                if (patience is not None or restore_best) and (best is None or value < best[0]):
                    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    best = (value, epoch, state)
                if patience is not None and best is not None and epoch - best[1] >= patience:
                    break
            history["epochs_run"] = [len(history["loss"])]
            if best is not None:
                model.load_state_dict(best[2])
                history["best_epoch"] = [best[1]]
    finally:
        bar.close()
        model.eval()
        optimizer.zero_grad(set_to_none=True)
    return history


def _plateau_schedule(optimizer: Any, plateau: Any, lr: float) -> Any:
    """Fawaz et al.'s ``ReduceLROnPlateau`` on the training loss, or None."""
    if plateau is None:
        return None
    from chronolens._validation import check_int

    epochs = check_int(plateau, "plateau", minimum=1)
    # Keras' rule: reduce once ``plateau`` epochs in a row miss the best loss by 1e-4 or more
    # (torch counts one epoch more before it reduces, hence ``patience=plateau - 1``).
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="min",
        factor=0.5,
        patience=epochs - 1,
        threshold=1e-4,
        threshold_mode="abs",
        min_lr=min(lr, 1e-4),
    )


def _check_patience(patience: Any, validation: Any) -> int:
    from chronolens._validation import check_int

    value = check_int(patience, "patience", minimum=1)
    if validation is None:
        raise ValueError(
            "`patience` stops on the validation loss: pass `validation=0.2` (a held-out "
            "fraction of the training data) or `x_val` and `y_val`."
        )
    return value


def _split(
    x: Any, y: Any, x_val: Any, y_val: Any, validation: float | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor, Any, np.ndarray | None]:
    """The training tensors, the validation pair (or None) and the held-out case indices."""
    inputs, labels, given = _tensors(x, y, x_val, y_val)
    if validation is None:
        return inputs, labels, given, None
    from chronolens._validation import check_float

    fraction = check_float(validation, "validation", minimum=0.0, maximum=1.0, strict_minimum=True)
    if given is not None or fraction >= 1.0:
        raise ValueError(
            "Pass either `validation` (a fraction below 1 of the training data) or `x_val` and "
            f"`y_val`, not both; got validation={validation!r}."
        )
    rng = np.random.default_rng([seed, 1])
    codes = labels.numpy()
    held = []
    for klass in np.unique(codes):
        members = rng.permutation(np.flatnonzero(codes == klass))
        if len(members) > 1:
            held.extend(members[: max(1, round(fraction * len(members)))].tolist())
    held_out = np.sort(np.asarray(held, dtype=np.int64))
    kept = np.setdiff1d(np.arange(len(codes)), held_out)
    if held_out.size == 0 or kept.size == 0:
        raise ValueError(
            f"`validation={validation!r}` leaves no validation or no training case of "
            f"{len(codes)}; use a fraction that keeps both, or pass `x_val` and `y_val`."
        )
    index = torch.from_numpy(held_out)
    rest = torch.from_numpy(kept)
    return inputs[rest], labels[rest], (inputs[index], labels[index]), held_out


def _evaluate(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on the validation data, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = torch.cat([model(inputs[i : i + 256]) for i in range(0, len(inputs), 256)])
            loss = float(nn.functional.cross_entropy(logits, labels))
    finally:
        model.train(was_training)
    return loss, float((logits.argmax(1) == labels).float().mean())


def _tensors(
    x: Any, y: Any, x_val: Any, y_val: Any
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """The training series and labels, and the validation pair (None without ``x_val``)."""
    from chronolens.series import as_series

    inputs = torch.from_numpy(as_series(x))
    codes, classes = encode_labels(y)
    if classes is not None:
        warnings.warn(
            f"`y` holds labels {classes}, encoded as class indices 0..{len(classes) - 1} in "
            "that (sorted) order; the history's 'classes' records it. Pass "
            "class_names=history['classes'] to explain() and report().",
            UserWarning,
            stacklevel=4,
        )
    labels = torch.as_tensor(codes, dtype=torch.long)
    if len(labels) != len(inputs):
        raise ValueError(f"`y` has {len(labels)} labels for {len(inputs)} cases.")
    validation = None
    if x_val is not None:
        val_codes, _ = encode_labels(y_val, classes)
        validation = (torch.from_numpy(as_series(x_val)), torch.as_tensor(val_codes))
    return inputs, labels, validation


def encode_labels(y: Any, classes: list[str] | None = None) -> tuple[np.ndarray, list[str] | None]:
    """Class indices for ``y``; string (or other non-integer) labels are encoded in sorted order.

    Returns the codes and the class names (None when ``y`` already holds integers).
    """
    labels = np.asarray(y)
    if labels.dtype.kind in "iu" and classes is None:
        return labels.astype(np.int64), None
    if labels.dtype.kind == "f" and classes is None and np.all(np.mod(labels, 1) == 0):
        return labels.astype(np.int64), None
    known = classes if classes is not None else sorted({str(v) for v in labels.tolist()})
    index = {name: i for i, name in enumerate(known)}
    unknown = sorted({str(v) for v in labels.tolist()} - set(index))
    if unknown:
        raise ValueError(
            f"`y` holds labels {unknown} that the training labels do not ({known}); the "
            "validation and test labels must come from the same classes."
        )
    return np.array([index[str(v)] for v in labels.tolist()], dtype=np.int64), list(known)


def _epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> tuple[float, float]:
    """One pass over shuffled mini-batches; return the mean loss and the training accuracy."""
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
    return total / len(inputs), correct / len(inputs)


@renamed_keyword("X", "x")
def accuracy(
    model: nn.Module, x: Any, y: Any, batch_size: int = 256, classes: list[str] | None = None
) -> float:
    """Fraction of cases whose predicted class (argmax of the output) equals ``y``.

    String labels need ``classes``, the order used in training (``fit``'s ``history["classes"]``).
    """
    from chronolens.series import as_series

    inputs = torch.from_numpy(as_series(x))
    if classes is None and np.asarray(y).dtype.kind not in "iuf":
        raise ValueError(
            "`y` holds string labels: pass classes=history['classes'] (the order zoo.fit "
            "encoded them in), so that label i means the model's output i."
        )
    labels = torch.as_tensor(encode_labels(y, classes)[0])
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
