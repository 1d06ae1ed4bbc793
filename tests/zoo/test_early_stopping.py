"""zoo.fit's early stopping, against a literal training loop written here.

Planted: the label is the sign of a short segment's mean, and 40 % of the training labels are
flipped at random (noise), so a network that trains on long enough memorises the noise and its
validation loss rises again. The reference loop repeats fit's documented procedure (Adam,
cross-entropy, a seeded permutation per epoch, batches of one skipped) and records the
validation loss and the weights after every epoch.
"""

import numpy as np
import pytest
import torch
from torch import nn

from chronolens import zoo


def _data(n, seed, noise):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1, 40)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=1) > 0).astype(np.int64)
    flip = rng.random(n) < noise
    y[flip] = 1 - y[flip]
    return x, y


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(40, 64), nn.ReLU(), nn.Linear(64, 2))


def _reference(x, y, x_val, y_val, epochs, lr, batch_size, seed):
    """Validation loss and state dict after each epoch, by hand."""
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    losses, states = [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(inputs), generator=generator)
            for start in range(0, len(inputs), batch_size):
                batch = order[start : start + batch_size]
                if len(batch) < 2:
                    continue
                loss = nn.functional.cross_entropy(model(inputs[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                logits = model(torch.from_numpy(x_val))
                losses.append(float(nn.functional.cross_entropy(logits, torch.from_numpy(y_val))))
            states.append({k: v.clone() for k, v in model.state_dict().items()})
    return np.array(losses), states


def _stop(losses, patience):
    """Epoch of the lowest loss so far when ``patience`` epochs have not improved on it."""
    best = 0
    for epoch, value in enumerate(losses):
        if value < losses[best]:
            best = epoch
        if epoch - best >= patience:
            return best, epoch + 1
    return best, len(losses)


def test_early_stopping_restores_the_best_validation_epoch():
    x, y = _data(60, 0, noise=0.4)
    x_val, y_val = _data(100, 1, noise=0.0)
    losses, states = _reference(x, y, x_val, y_val, epochs=30, lr=0.01, batch_size=16, seed=3)
    best, run = _stop(losses, patience=5)
    assert best < run - 1 and losses[-1] > losses[best]  # planted: training longer overfits
    model = _model()
    history = zoo.fit(
        model,
        x,
        y,
        epochs=30,
        lr=0.01,
        batch_size=16,
        seed=3,
        x_val=x_val,
        y_val=y_val,
        patience=5,
        progress=False,
    )
    assert history["best_epoch"] == [best] and history["epochs_run"] == [run]
    np.testing.assert_allclose(history["val_loss"], losses[:run], rtol=1e-5)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, states[best][key])
    assert not model.training


def test_a_validation_fraction_is_held_out_per_class_and_seeded():
    x, y = _data(60, 2, noise=0.4)
    model = _model()
    history = zoo.fit(
        model,
        x,
        y,
        epochs=25,
        lr=0.01,
        batch_size=16,
        seed=3,
        validation=0.25,
        patience=4,
        progress=False,
    )
    held = np.asarray(history["validation_cases"])
    assert len(held) == sum(round(0.25 * np.sum(y == k)) for k in (0, 1))
    kept = np.setdiff1d(np.arange(60), held)
    losses, states = _reference(x[kept], y[kept], x[held], y[held], 25, 0.01, 16, 3)
    best, run = _stop(losses, patience=4)
    assert history["best_epoch"] == [best] and history["epochs_run"] == [run]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, states[best][key])
    again = zoo.fit(_model(), x, y, epochs=1, seed=3, validation=0.25, progress=False)
    assert again["validation_cases"] == history["validation_cases"]


def test_bad_early_stopping_arguments_are_refused():
    x, y = _data(20, 0, noise=0.0)
    with pytest.raises(ValueError, match="`patience`.*validation=0.2"):
        zoo.fit(_model(), x, y, epochs=1, patience=3)
    with pytest.raises(ValueError, match="either `validation`"):
        zoo.fit(_model(), x, y, epochs=1, validation=0.2, x_val=x, y_val=y)
    with pytest.raises(ValueError, match="patience"):
        zoo.fit(_model(), x, y, epochs=1, validation=0.2, patience=0)
