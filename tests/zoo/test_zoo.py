import numpy as np
import pytest
import torch

from chronolens import zoo


def test_conv1d_classifier_is_the_users_architecture():
    model = zoo.conv1d_classifier(9, 300, 4)
    names = [name for name, _ in model.named_children()]
    assert names == [
        "conv1",
        "bn1",
        "relu1",
        "pool1",
        "conv2",
        "bn2",
        "relu2",
        "pool2",
        "flatten",
        "fc",
    ]
    assert model.conv1.kernel_size == (9,) and model.conv1.out_channels == 128
    assert model.fc.in_features == 128 * 10
    assert model(torch.zeros(2, 9, 300)).shape == (2, 4)
    with pytest.raises(ValueError, match="too short"):
        zoo.conv1d_classifier(9, 50, 4)


def test_fcn_and_resnet_shapes():
    assert zoo.fcn(6, 4, filters=(8, 8, 8))(torch.zeros(2, 6, 100)).shape == (2, 4)
    assert zoo.resnet(6, 4, filters=(8, 8))(torch.zeros(2, 6, 100)).shape == (2, 4)


def test_seeded_initialisation_does_not_touch_global_rng():
    state = torch.random.get_rng_state()
    a = zoo.fcn(3, 2, filters=(4, 4, 4), seed=1)
    b = zoo.fcn(3, 2, filters=(4, 4, 4), seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.conv1.weight, b.conv1.weight)


def test_fit_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2, 40)).astype(np.float32)
    y = np.arange(64) % 2
    X[y == 1, 0, 10:20] += 2.0
    model = zoo.fcn(2, 2, filters=(8, 8, 8))
    history = zoo.fit(model, X, y, epochs=15, lr=0.01, seed=0, x_val=X, y_val=y)
    assert history["val_accuracy"][-1] > 0.9
    assert not model.training
    assert zoo.accuracy(model, X, y) == history["val_accuracy"][-1]


def test_dimension_wise_networks():
    x = torch.randn(2, 5, 40)
    for build in (zoo.dcnn, zoo.dresnet):
        model = build(5, 3, filters=(4, 6), seed=2)
        assert model(x).shape == (2, 3)
        again = build(5, 3, filters=(4, 6), seed=2)
        assert torch.equal(model(x), again(x))  # seeded
        # A cyclic shift of the channels only changes which row holds which order: the cube's
        # rows are permuted, and global average pooling does not see row order.
        torch.testing.assert_close(model(torch.roll(x, 1, dims=1)), model(x))
    conv2d = [m for m in zoo.dcnn(5, 3).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.kernel_size for m in conv2d] == [(1, 3)] * 4
    assert not hasattr(zoo.dcnn(5, 3, filters=(4, 6)).features, "bn2")  # the paper's last conv
    with pytest.raises(ValueError, match="filters"):
        zoo.dcnn(5, 3, filters=())


def test_fit_can_restore_the_best_validation_epoch():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(48, 2, 30)).astype(np.float32)
    y = np.arange(48) % 2
    X[y == 1, 0, 5:15] += 0.6  # weak signal: validation accuracy goes up and down
    X_val, y_val = X[32:], y[32:]
    model = zoo.fcn(2, 2, filters=(4, 4, 4), seed=0)
    history = zoo.fit(
        model, X[:32], y[:32], epochs=12, lr=0.05, x_val=X_val, y_val=y_val, restore_best=True
    )
    best = int(np.argmax(history["val_accuracy"]))
    assert history["val_accuracy"][-1] < history["val_accuracy"][best]  # the last is worse
    assert history["best_epoch"] == [best]
    assert zoo.accuracy(model, X_val, y_val) == history["val_accuracy"][best]
    with pytest.raises(ValueError, match="x_val"):
        zoo.fit(model, X, y, epochs=1, restore_best=True)


def test_fit_encodes_string_labels_and_says_so():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3, 40)).astype(np.float32)
    y = np.array(["walk", "run", "sit"] * 4)
    codes = np.array([2, 0, 1] * 4)  # sorted: run, sit, walk
    a = zoo.fcn(3, 3, filters=(4, 4, 4), seed=0)
    b = zoo.fcn(3, 3, filters=(4, 4, 4), seed=0)
    with pytest.warns(UserWarning, match=r"\['run', 'sit', 'walk'\].*class_names=history"):
        history = zoo.fit(a, X, y, epochs=2, seed=0, progress=False, x_val=X, y_val=y)
    reference = zoo.fit(b, X, codes, epochs=2, seed=0, progress=False, x_val=X, y_val=codes)
    assert history["classes"] == ["run", "sit", "walk"]
    assert history["loss"] == reference["loss"]
    assert zoo.accuracy(a, X, y, classes=history["classes"]) == zoo.accuracy(b, X, codes)
    with pytest.raises(ValueError, match="classes=history"):
        zoo.accuracy(a, X, y)
    with pytest.raises(ValueError, match=r"\['jump'\]"):
        zoo.accuracy(a, X, np.array(["jump"] * 12), classes=history["classes"])
