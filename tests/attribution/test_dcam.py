"""dcam and the d-networks of the zoo: planted ground truth and a literal re-implementation."""

import importlib
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import chronolens as cl
from chronolens import zoo
from chronolens.attribution.dcam import permutations
from chronolens.testing import assert_model_unchanged, model_state, tiny_conv_model

D, T = 4, 60
CHANNEL, WINDOW = 1, (24, 36)


def planted_dmodel() -> nn.Module:
    """A hand-built d-CNN: class 1 scores the positive bumps that filter 0 sees at position 0.

    Filter 0 averages, over 5 points, the channel at position 0 of each cube row (row ``j``
    holds channel ``j`` there), minus 0.5; filter 1 reads position 2 and is ignored by the head.
    ``score_1 = mean over rows and time of relu(filter 0)``, ``score_0 = 0``.
    """
    conv = nn.Conv2d(D, 2, (1, 5), padding=(0, 2))
    fc = nn.Linear(2, 2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, :] = 1 / 5
        conv.weight[1, 2, 0, :] = 1 / 5
        conv.bias.fill_(-0.5)
        fc.weight.zero_()
        fc.bias.zero_()
        fc.weight[1, 0] = 1.0
    layers = OrderedDict(
        cube=zoo.DimensionCube(),
        conv=conv,
        relu=nn.ReLU(),
        gap=nn.AdaptiveAvgPool2d(1),
        flatten=nn.Flatten(),
        fc=fc,
    )
    return nn.Sequential(layers).eval()


def planted_series(n_cases=3, seed=0):
    """Noise; a bump in channel 1 inside WINDOW; dips (which the model ignores) elsewhere."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.1, size=(n_cases, D, T))
    t = np.arange(T)

    def bump(at):
        return 2.0 * np.exp(-0.5 * ((t - at) / 3.0) ** 2)

    x[:, CHANNEL] += bump(sum(WINDOW) / 2)
    x[:, 0] -= bump(sum(WINDOW) / 2)
    x[:, 3] -= bump(10)
    return x.astype(np.float32)


def test_cube_holds_cyclic_shifts():
    x = torch.arange(2 * D * 3, dtype=torch.float32).reshape(2, D, 3)
    cube = zoo.DimensionCube()(x)
    assert cube.shape == (2, D, D, 3)
    for i in range(D):
        for j in range(D):
            assert torch.equal(cube[:, i, j], x[:, (i + j) % D])


def test_planted_bump_gets_the_most_mass():
    model, x = planted_dmodel(), planted_series()
    before = model_state(model)
    exp = cl.explain(model, x, "dcam", target=1, n_permutations=24, seed=0)
    assert_model_unchanged(model, before)
    assert exp.per_channel and exp.attributions.shape == x.shape
    assert exp.extras["layer"] == "relu"
    mass = exp.attributions
    assert (mass >= 0).all()
    assert (mass.sum(axis=2).argmax(axis=1) == CHANNEL).all()
    # Most of the mass sits on the bump, and the peak is there.
    inside = mass[:, CHANNEL, WINDOW[0] : WINDOW[1]].sum(axis=1)
    assert (inside > 0.6 * mass.sum(axis=(1, 2))).all()
    assert (
        (WINDOW[0] <= mass[:, CHANNEL].argmax(axis=1))
        & (mass[:, CHANNEL].argmax(axis=1) < WINDOW[1])
    ).all()
    # Another channel sits at position 0 of the bump's row in 1 order in D - 1 (dCAM's
    # contrast, (D - 1)^2 = 9 in expectation): its peak is far lower.
    others = np.delete(mass, CHANNEL, axis=1).max(axis=(1, 2))
    assert (mass[:, CHANNEL].max(axis=1) > 5 * others).all()
    # Permuting channels leaves this model's class-1 score positive: every order succeeds.
    np.testing.assert_array_equal(exp.extras["permutation_success"], 1.0)


def _literal_dcam(model, x, target, n_permutations, seed):
    """The paper's procedure, written out: a cube per permutation, CAM from the linear weights."""
    features = model.features  # after the cube, before the pooling + linear head
    weight = model.fc.weight.detach().numpy()
    orders = permutations(n_permutations, D, seed)
    maps, success = [], []
    for case in range(len(x)):
        kept = []
        for order in orders:
            cube = np.array([[x[case, order[(i + j) % D]] for j in range(D)] for i in range(D)])
            with torch.no_grad():
                activation = features(torch.from_numpy(cube[None]))[0].numpy()  # (F, D, T)
                predicted = int(model(torch.from_numpy(x[case, order][None])).argmax())
            cam = np.tensordot(weight[target[case]], activation, axes=1)  # (D rows, T)
            cam = (cam - cam.min()) / (cam.max() - cam.min())
            full = np.zeros((D, D, x.shape[-1]))
            for i in range(D):
                for j in range(D):
                    full[order[(i + j) % D], i] = cam[j]
            if predicted == target[case]:
                kept.append(full)
        mean = np.mean(kept, axis=0)
        variance = ((mean - mean.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
        maps.append(variance * mean.mean(axis=(0, 1)))
        success.append(len(kept) / n_permutations)
    return np.array(maps), np.array(success)


def test_matches_a_literal_reimplementation():
    model = zoo.dcnn(D, 3, filters=(6, 5), seed=2).eval()
    x = np.random.default_rng(3).normal(size=(3, D, 30)).astype(np.float32)
    with torch.no_grad():
        target = model(torch.from_numpy(x)).argmax(1).numpy()
    exp = cl.explain(model, x, "dcam", target=target, n_permutations=10, seed=5, batch_size=7)
    reference, success = _literal_dcam(model, x, target, 10, 5)
    scale = np.abs(reference).max()
    np.testing.assert_allclose(exp.attributions, reference, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(exp.extras["permutation_success"], success)


def test_only_correct_permutations_are_averaged():
    model = zoo.dcnn(D, 3, filters=(6, 5), seed=2).eval()
    x = np.random.default_rng(3).normal(size=(4, D, 30)).astype(np.float32)
    wrong = (cl.explain(model, x, "saliency").target + 1) % 3
    exp = cl.explain(model, x, "dcam", target=wrong, n_permutations=12, seed=1)
    every = cl.explain(
        model, x, "dcam", target=wrong, n_permutations=12, seed=1, only_correct=False
    )
    success = exp.extras["permutation_success"]
    assert (success < 1).all()
    used = exp.extras["n_permutations_used"]
    # No successful permutation: all of them are used, as with only_correct=False.
    fallback = success == 0
    np.testing.assert_array_equal(used[fallback], 12)
    np.testing.assert_allclose(exp.attributions[fallback], every.attributions[fallback])
    np.testing.assert_array_equal(used[~fallback], np.round(success[~fallback] * 12))


def test_seed_reproduces_and_changes_the_orders():
    model, x = planted_dmodel(), planted_series(2)
    a = cl.explain(model, x, "dcam", target=1, n_permutations=6, seed=3)
    b = cl.explain(model, x, "dcam", target=1, n_permutations=6, seed=3)
    c = cl.explain(model, x, "dcam", target=1, n_permutations=6, seed=4)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert not np.array_equal(a.attributions, c.attributions)
    assert a.params["seed"] == 3


def test_a_model_without_a_cube_is_refused(rng):
    model = tiny_conv_model(n_channels=3, n_classes=2)
    with pytest.raises(ValueError, match="not a dimension-wise network.*zoo.dcnn"):
        cl.explain(model, rng.normal(size=(2, 3, 40)).astype(np.float32), "dcam")


class ReversedCube(nn.Module):
    """A cube of the other orientation, x[(i - j) % D]: dcam's row arithmetic would not hold."""

    def forward(self, x):
        offsets = torch.arange(x.shape[1])
        return x[:, (offsets[:, None] - offsets[None, :]) % x.shape[1]]


def test_the_cube_is_checked_numerically_not_by_class(tmp_path):
    from chronolens.files import load_model

    model, x = planted_dmodel(), planted_series(2)
    reversed_model = planted_dmodel()
    reversed_model.cube = ReversedCube()
    with pytest.raises(ValueError, match=r"cube\[:, i, j\] = x\[:, \(i \+ j\) % D\]"):
        cl.explain(reversed_model, x, "dcam", target=1)
    # A torch.export archive loses the module classes; its cube is still recognised.
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (torch.from_numpy(x),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "d.pt2")
    exported = load_model(tmp_path / "d.pt2")
    got = cl.explain(exported, x, "dcam", target=1, n_permutations=6, seed=2)
    expected = cl.explain(model, x, "dcam", target=1, n_permutations=6, seed=2)
    np.testing.assert_allclose(got.attributions, expected.attributions, rtol=1e-5, atol=1e-8)


def test_zoo_dimension_wise_networks_train_and_explain(rng):
    x = rng.normal(size=(16, 3, 32)).astype(np.float32)
    y = (x[:, 0, 10:20].mean(axis=1) > 0).astype(np.int64)
    for model in (zoo.dcnn(3, 2, filters=(4, 4), seed=0), zoo.dresnet(3, 2, filters=(4, 4))):
        history = zoo.fit(model, x, y, epochs=4, lr=1e-2, progress=False)
        assert history["loss"][-1] < history["loss"][0]
        exp = cl.explain(model, x[:2], "dcam", n_permutations=4, seed=0)
        assert exp.attributions.shape == (2, 3, 32) and np.isfinite(exp.attributions).all()
    # The default layer of the d-ResNet is the last block's output.
    assert exp.extras["layer"] == "blocks.1"


def test_bad_arguments():
    model, x = planted_dmodel(), planted_series(1)
    with pytest.raises(ValueError, match="n_permutations"):
        cl.explain(model, x, "dcam", n_permutations=0)
    with pytest.raises(ValueError, match="Layer 'flatten' outputs shape .*rows, time"):
        cl.explain(model, x, "dcam", layer="flatten")


def test_memory_blocks_do_not_change_the_map(monkeypatch):
    dcam_module = importlib.import_module(
        "chronolens.attribution.dcam"
    )  # `cl.methods` is a function

    model = zoo.dcnn(D, 3, filters=(6, 5), seed=2).eval()
    x = np.random.default_rng(4).normal(size=(5, D, 30)).astype(np.float32)
    target = [0, 1, 2, 0, 1]
    whole = cl.explain(model, x, "dcam", target=target, n_permutations=7, seed=3)
    # Room for one case's sums at a time, and for 3 rows per batch.
    monkeypatch.setattr(dcam_module, "_SPREAD_BYTES", 3 * 4 * D * D * 30)
    blocked = cl.explain(model, x, "dcam", target=target, n_permutations=7, seed=3)
    np.testing.assert_allclose(blocked.attributions, whole.attributions, rtol=1e-5, atol=1e-9)
    for key in ("permutation_success", "n_permutations_used"):
        np.testing.assert_array_equal(blocked.extras[key], whole.extras[key])
