"""Explanations of one model from several threads: serial results, the model as it began."""

import threading

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens.testing import assert_model_unchanged, model_state


def train_mode_model():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(3, 8, 5),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Conv1d(8, 8, 5),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )
    with torch.no_grad():  # batch-norm statistics that differ from the defaults
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    return model.train()  # left in train mode on purpose: dropout active, statistics updating


METHODS = {"grad_cam": {}, "integrated_gradients": {"n_steps": 16}, "saliency": {}}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_threads_give_the_serial_result_and_leave_the_model_as_it_was(method):
    model = train_mode_model()
    x = np.random.default_rng(0).normal(size=(6, 3, 60)).astype(np.float32)
    before = model_state(model)
    serial = cl.explain(model, x, method, **METHODS[method]).attributions
    results, errors = [None] * 12, []

    def work(i):
        try:
            results[i] = cl.explain(model, x, method, batch_size=2, **METHODS[method]).attributions
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for result in results:
        np.testing.assert_allclose(result, serial, rtol=1e-5, atol=1e-6)
    assert_model_unchanged(model, before)  # parameters, buffers, flags, hooks
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_the_cycle_of_one_thread_does_not_block_another_model():
    # Different models never wait for each other: a session held on one does not block the other.
    a, b = train_mode_model(), train_mode_model()
    x = np.zeros((1, 3, 60), np.float32)
    held = threading.Event()
    release = threading.Event()
    adapter = cl.adapt(a)

    def hold():
        with adapter.session():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    cl.explain(b, x, "saliency")  # would deadlock if b waited for a's lock
    release.set()
    thread.join()


@pytest.mark.parametrize("method", cl.methods().names())
def test_every_method_leaves_a_shared_model_untouched_under_threads(method):
    from chronolens import zoo
    from chronolens.registry import get_method
    from chronolens.testing import tiny_conv_model

    spec = get_method(method)
    if spec.layer_rank == 4:
        model = zoo.dcnn(3, 3, filters=(4, 4), seed=1).train()
    elif method == "cam":
        model = train_mode_model()
    elif spec.family == "self_explaining":
        model = zoo.mil_channels(3, 3, filters=(3, 4), kernel_sizes=(5, 3), seed=1).train()
    elif spec.family == "attention":
        model = zoo.attention_rnn(3, 3, hidden=4, seed=1).train()
    else:
        model = tiny_conv_model(n_channels=3, n_classes=3, seed=1).train()
    x = np.random.default_rng(0).normal(size=(3, 3, 60)).astype(np.float32)
    x_before = x.copy()
    before = model_state(model)
    params = {**spec.test_params, "seed": 0}
    serial = cl.explain(model, x, method, **params).attributions
    results, errors = [None] * 4, []

    def work(i):
        try:
            results[i] = cl.explain(model, x, method, **params).attributions
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for result in results:
        np.testing.assert_allclose(result, serial, rtol=1e-5, atol=1e-6)
    assert_model_unchanged(model, before)
    np.testing.assert_array_equal(x, x_before)
