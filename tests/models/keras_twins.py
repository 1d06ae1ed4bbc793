"""Keras models and their PyTorch twins holding the same weights (imported in subprocesses only).

Keras fixes its backend when first imported, so this module is imported by
``keras_backend_suite.py`` and ``keras_files_helper.py``, which ``test_keras.py`` runs in a fresh
interpreter per backend with ``KERAS_BACKEND`` set.
"""

from collections import OrderedDict

import keras
import numpy as np
import torch
from torch import nn

N_CHANNELS, N_TIMEPOINTS, N_CLASSES = 3, 40, 3


def randomise(model, seed):
    """Give every weight (and batch-norm statistic) a reproducible random value."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = weights
            weights = [
                rng.uniform(0.5, 1.5, gamma.shape),
                rng.normal(0, 0.1, beta.shape),
                rng.normal(0, 0.1, mean.shape),
                rng.uniform(0.5, 1.5, var.shape),
            ]
        else:
            weights = [rng.normal(0, 0.3, w.shape) for w in weights]
        layer.set_weights([w.astype(np.float32) for w in weights])
    return model


def keras_conv(n_channels=N_CHANNELS, n_timepoints=N_TIMEPOINTS, n_classes=N_CLASSES, seed=0):
    """The user's architecture, small: two Conv1D-BN-ReLU-MaxPool blocks, Flatten, Dense."""
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((n_timepoints, n_channels)),
            layers.Conv1D(6, 5, name="conv1"),
            layers.BatchNormalization(name="bn1"),
            layers.Activation("relu", name="relu1"),
            layers.MaxPooling1D(2, name="pool1"),
            layers.Conv1D(8, 3, padding="same", name="conv2"),
            layers.BatchNormalization(name="bn2"),
            layers.Activation("relu", name="relu2"),
            layers.MaxPooling1D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(n_classes, name="fc"),
        ]
    )
    return randomise(model, seed)


def _copy_conv(keras_layer, conv):
    kernel, bias = keras_layer.get_weights()  # (k, in, out), (out,)
    conv.weight.copy_(torch.from_numpy(kernel.transpose(2, 1, 0).copy()))
    conv.bias.copy_(torch.from_numpy(bias))


def _copy_bn(keras_layer, bn):
    gamma, beta, mean, var = keras_layer.get_weights()
    bn.weight.copy_(torch.from_numpy(gamma))
    bn.bias.copy_(torch.from_numpy(beta))
    bn.running_mean.copy_(torch.from_numpy(mean))
    bn.running_var.copy_(torch.from_numpy(var))


def torch_conv_twin(model):
    """The PyTorch version of :func:`keras_conv` with the Keras model's weights.

    Keras flattens (time, filters) row by row, torch flattens (filters, time): the Dense kernel
    (time * filters, classes) is reordered into the Linear weight (classes, filters * time).
    """
    n_channels = model.inputs[0].shape[-1]
    eps = model.get_layer("bn1").epsilon
    positions = model.get_layer("pool2").output.shape[1]
    n_classes = model.get_layer("fc").units
    twin = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv1d(n_channels, 6, 5),
            bn1=nn.BatchNorm1d(6, eps=eps),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool1d(2),
            conv2=nn.Conv1d(6, 8, 3, padding=1),
            bn2=nn.BatchNorm1d(8, eps=eps),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool1d(2),
            flatten=nn.Flatten(),
            fc=nn.Linear(8 * positions, n_classes),
        )
    )
    with torch.no_grad():
        for name in ("conv1", "conv2"):
            _copy_conv(model.get_layer(name), getattr(twin, name))
        for name in ("bn1", "bn2"):
            _copy_bn(model.get_layer(name), getattr(twin, name))
        kernel, bias = model.get_layer("fc").get_weights()
        weight = kernel.reshape(positions, 8, n_classes).transpose(2, 1, 0).reshape(n_classes, -1)
        twin.fc.weight.copy_(torch.from_numpy(weight.copy()))
        twin.fc.bias.copy_(torch.from_numpy(bias))
    return twin.eval()


def keras_gap(n_channels=N_CHANNELS, n_timepoints=N_TIMEPOINTS, n_classes=N_CLASSES, seed=1):
    """Conv1D("same") -> ReLU -> GlobalAveragePooling1D -> Dense: the CAM network (functional)."""
    inputs = keras.Input((n_timepoints, n_channels))
    h = keras.layers.Conv1D(8, 5, padding="same", name="conv")(inputs)
    h = keras.layers.Activation("relu", name="relu")(h)
    h = keras.layers.GlobalAveragePooling1D(name="gap")(h)
    outputs = keras.layers.Dense(n_classes, name="fc")(h)
    return randomise(keras.Model(inputs, outputs), seed)


def torch_gap_twin(model):
    conv = model.get_layer("conv")
    n_channels = model.inputs[0].shape[-1]
    n_classes = model.get_layer("fc").units
    twin = nn.Sequential(
        OrderedDict(
            conv=nn.Conv1d(n_channels, 8, 5, padding=2),
            relu=nn.ReLU(),
            gap=nn.AdaptiveAvgPool1d(1),
            flatten=nn.Flatten(),
            fc=nn.Linear(8, n_classes),
        )
    )
    with torch.no_grad():
        _copy_conv(conv, twin.conv)
        kernel, bias = model.get_layer("fc").get_weights()
        twin.fc.weight.copy_(torch.from_numpy(kernel.T.copy()))
        twin.fc.bias.copy_(torch.from_numpy(bias))
    return twin.eval()


def keras_fused(n_channels=N_CHANNELS, n_timepoints=N_TIMEPOINTS, n_classes=N_CLASSES, seed=2):
    """Activations fused into Conv1D and Dense (``activation=``), a ReLU layer, a global max."""
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((n_timepoints, n_channels)),
            layers.Conv1D(6, 5, activation="relu", name="conv1"),
            layers.Conv1D(6, 3, name="conv2"),
            layers.ReLU(name="relu2"),
            layers.Conv1D(4, 3, activation="tanh", name="conv3"),
            layers.GlobalMaxPooling1D(name="pool"),
            layers.Dense(5, activation="relu", name="hidden"),
            layers.Dense(n_classes, name="fc"),
        ]
    )
    return randomise(model, seed)


def torch_fused_twin(model):
    """The PyTorch version of :func:`keras_fused`, each activation a module."""
    n_channels = model.inputs[0].shape[-1]
    twin = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv1d(n_channels, 6, 5),
            relu1=nn.ReLU(),
            conv2=nn.Conv1d(6, 6, 3),
            relu2=nn.ReLU(),
            conv3=nn.Conv1d(6, 4, 3),
            tanh3=nn.Tanh(),
            pool=nn.AdaptiveMaxPool1d(1),
            flatten=nn.Flatten(),
            hidden=nn.Linear(4, 5),
            relu4=nn.ReLU(),
            fc=nn.Linear(5, model.get_layer("fc").units),
        )
    )
    with torch.no_grad():
        for name in ("conv1", "conv2", "conv3"):
            _copy_conv(model.get_layer(name), getattr(twin, name))
        for name in ("hidden", "fc"):
            kernel, bias = model.get_layer(name).get_weights()
            getattr(twin, name).weight.copy_(torch.from_numpy(kernel.T.copy()))
            getattr(twin, name).bias.copy_(torch.from_numpy(bias))
    return twin.eval()


class SubclassedConv(keras.Model):
    """A subclassed model with the layers of :func:`keras_conv` (built by one call)."""

    def __init__(self, n_classes):
        super().__init__()
        layers = keras.layers
        self.blocks = [
            layers.Conv1D(6, 5, name="conv1"),
            layers.BatchNormalization(name="bn1"),
            layers.Activation("relu", name="relu1"),
            layers.MaxPooling1D(2, name="pool1"),
            layers.Conv1D(8, 3, padding="same", name="conv2"),
            layers.BatchNormalization(name="bn2"),
            layers.Activation("relu", name="relu2"),
            layers.MaxPooling1D(2, name="pool2"),
        ]
        self.flatten = layers.Flatten(name="flatten")
        self.fc = layers.Dense(n_classes, name="fc")

    def call(self, inputs, training=False):
        h = inputs
        for layer in self.blocks:
            h = layer(h, training=training)
        return self.fc(self.flatten(h))


def subclassed_copy(source):
    model = SubclassedConv(source.get_layer("fc").units)
    model(np.zeros((1, *source.inputs[0].shape[1:]), dtype="float32"))
    for layer in [*model.blocks, model.fc]:
        layer.set_weights(source.get_layer(layer.name).get_weights())
    return model


def data(n=4, n_channels=N_CHANNELS, n_timepoints=N_TIMEPOINTS, seed=0):
    return np.random.default_rng(seed).normal(size=(n, n_channels, n_timepoints)).astype("float32")
