"""Models whose forward takes lengths, a mask or a PackedSequence.

The reference for every check is the model run the way its author would run it: the padded
batch with each case's TRUE lengths (or mask), differentiated by hand with torch.autograd, or
occluded in a literal loop. chronolens instead explains each length at its own length and tells
the model every point is real; for a model that honours its lengths the two must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import chronolens as cl
from chronolens._lengths import pad_series, valid_mask
from chronolens.models import adapt


def _ragged(seed: int = 0, channels: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(channels, t)).astype(np.float32) for t in (9, 14, 9, 20, 12)]


class PackingLSTM(nn.Module):
    """forward(x, lengths): packs the padded batch, classifies from the last hidden state."""

    def __init__(self, channels: int = 3, classes: int = 2) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.LSTM(channels, 8, batch_first=True)
        self.head = nn.Linear(8, classes)
        self.seen: list[tuple[int, list[int]]] = []

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.shape[-1], [int(v) for v in lengths]))
        packed = pack_padded_sequence(x.transpose(1, 2), lengths, True, enforce_sorted=False)
        _, (h, _) = self.rnn(packed)
        return self.head(h[-1])


class MaskedTransformer(nn.Module):
    """forward(x, src_key_padding_mask): True marks padding (PyTorch's convention)."""

    def __init__(self, channels: int = 3, classes: int = 2) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.embed = nn.Linear(channels, 8)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None):
        h = self.encoder(self.embed(x.transpose(1, 2)), src_key_padding_mask=src_key_padding_mask)
        keep = torch.ones_like(h[..., 0]) if src_key_padding_mask is None else ~src_key_padding_mask
        return self.head((h * keep[..., None]).sum(1) / keep.sum(1, keepdim=True))


class MaskedConv(nn.Module):
    """forward(x, mask): True marks real points; masked mean of a conv's activations."""

    def __init__(self, channels: int = 3, classes: int = 2) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv1d(channels, 6, 3, padding=1)
        self.head = nn.Linear(6, classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x * mask[:, None]))
        weights = mask[:, None].float()
        return self.head((h * weights).sum(-1) / weights.sum(-1))


class PackedInput(nn.Module):
    """forward(packed: PackedSequence): the caller packs the sequence."""

    def __init__(self, channels: int = 3, classes: int = 2) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.rnn = nn.GRU(channels, 8, batch_first=True)
        self.head = nn.Linear(8, classes)

    def forward(self, packed: PackedSequence) -> torch.Tensor:
        _, h = self.rnn(packed)
        return self.head(h[-1])


def _true_call(model: nn.Module, padded: torch.Tensor, lengths: np.ndarray) -> torch.Tensor:
    """The model run by its author: the padded batch and each case's true lengths."""
    lengths_t = torch.as_tensor(lengths)
    real = torch.as_tensor(valid_mask(lengths, padded.shape[-1]))
    if isinstance(model, PackingLSTM):
        return model(padded, lengths_t)
    if isinstance(model, MaskedTransformer):
        return model(padded, src_key_padding_mask=~real)
    if isinstance(model, MaskedConv):
        return model(padded, real)
    packed = pack_padded_sequence(padded.transpose(1, 2), lengths_t, True, enforce_sorted=False)
    return model(packed)


def _reference_saliency(model: nn.Module, cases: list[np.ndarray], target: np.ndarray):
    padded, lengths = pad_series(cases)
    inputs = torch.tensor(padded, requires_grad=True)
    scores = _true_call(model.eval(), inputs, lengths)
    (grad,) = torch.autograd.grad(scores[np.arange(len(cases)), target].sum(), inputs)
    return np.where(valid_mask(lengths, padded.shape[-1])[:, None], grad.numpy(), np.nan)


@pytest.mark.parametrize("model_class", [PackingLSTM, MaskedTransformer, MaskedConv, PackedInput])
def test_saliency_matches_the_true_lengths_run(model_class: type[nn.Module]) -> None:
    cases, model = _ragged(), model_class()
    target = np.array([0, 1, 1, 0, 1])
    exp = cl.explain(model, cases, "saliency", target=target, abs=False)
    reference = _reference_saliency(model, cases, target)
    np.testing.assert_allclose(exp.attributions, reference, rtol=1e-4, atol=1e-6)
    assert np.isnan(exp.attributions[3:4]).sum() == 0  # the longest case has no padding


@pytest.mark.parametrize("pad_value", [None, 7.0])
def test_model_gets_lengths_and_never_sees_padding(pad_value: float | None) -> None:
    model, cases = PackingLSTM(), _ragged()
    exp = cl.explain(model, cases, "occlusion", window=3, stride=1, pad_value=pad_value)
    assert model.seen and all(lengths == [t] * len(lengths) for t, lengths in model.seen)
    assert {t for t, _ in model.seen} == {9, 12, 14, 20}  # each length at its own length
    fill = 0.0 if pad_value is None else pad_value
    assert (exp.x[0, :, 9:] == fill).all()


def test_occlusion_matches_a_literal_loop_with_the_true_mask() -> None:
    model, cases, window = MaskedConv().eval(), _ragged(4), 3
    padded, lengths = pad_series(cases)
    exp = cl.explain(model, cases, "occlusion", window=window, stride=window, target=1)
    with torch.no_grad():
        base = _true_call(model, torch.tensor(padded), lengths)[:, 1].numpy()
    expected = np.full(padded.shape, np.nan, dtype=np.float64)
    for i, t in enumerate(lengths):
        for c in range(padded.shape[1]):
            for start in range(0, t, window):
                stop = min(start + window, t)
                occluded = padded[i : i + 1].copy()
                occluded[0, c, start:stop] = 0.0
                with torch.no_grad():
                    score = _true_call(model, torch.tensor(occluded), lengths[i : i + 1])[0, 1]
                expected[i, c, start:stop] = base[i] - float(score)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-6)


def test_integrated_gradients_is_complete_per_case() -> None:
    model, cases = PackingLSTM(), _ragged(5)
    exp = cl.explain(model, cases, "integrated_gradients", target=0, n_steps=256)
    for i, case in enumerate(cases):
        x = torch.tensor(case[None])
        length = torch.tensor([case.shape[1]])
        with torch.no_grad():
            gap = model(x, length)[0, 0] - model(torch.zeros_like(x), length)[0, 0]
        assert np.nansum(exp.attributions[i]) == pytest.approx(float(gap), rel=2e-3, abs=2e-4)


def test_equal_length_arrays_get_full_lengths() -> None:
    model = PackingLSTM()
    x = np.random.default_rng(0).normal(size=(4, 3, 11)).astype(np.float32)
    cl.explain(model, x, "saliency")
    assert all(t == 11 and lengths == [11] * len(lengths) for t, lengths in model.seen)


def test_detected_inputs_and_plain_models() -> None:
    assert adapt(PackingLSTM()).sequence_inputs.lengths == ("lengths",)
    assert adapt(MaskedTransformer()).sequence_inputs.padding_masks == ("src_key_padding_mask",)
    assert adapt(MaskedConv()).sequence_inputs.valid_masks == ("mask",)
    assert adapt(PackedInput()).sequence_inputs.packed
    plain = nn.Sequential(nn.Conv1d(3, 2, 3), nn.AdaptiveAvgPool1d(1), nn.Flatten())
    assert not adapt(plain).sequence_inputs


def test_required_argument_it_cannot_supply_is_named() -> None:
    class NeedsSpeaker(nn.Module):
        def forward(self, x: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:
            return x.mean(-1)

    with pytest.raises(TypeError, match=r"required argument `speaker`.*wrap the model"):
        cl.explain(NeedsSpeaker(), np.zeros((2, 3, 10), np.float32), "saliency")


def test_japanese_vowels_with_a_packing_lstm() -> None:
    datasets = pytest.importorskip("aeon.datasets")
    try:
        x, y = datasets.load_classification("JapaneseVowels", split="train")
    except Exception as error:  # pragma: no cover - offline without the cached set
        pytest.skip(f"JapaneseVowels not available: {error}")
    cases = [case.astype(np.float32) for case in x[:30]]
    model = PackingLSTM(channels=12, classes=9)
    target = y[:30].astype(int) - 1
    exp = cl.explain(model, cases, "saliency", target=target, abs=False)
    np.testing.assert_allclose(
        exp.attributions, _reference_saliency(model, cases, target), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_array_equal(exp.lengths, [case.shape[1] for case in cases])
