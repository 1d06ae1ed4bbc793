"""The registry is the single source of per-method facts, and open to methods from outside."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import chronolens as cl
from chronolens.attribution._result import MethodResult
from chronolens.cli import main
from chronolens.metrics import evaluate
from chronolens.registry import REGISTRY, markdown_table
from chronolens.testing import check_method

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_methods_table_is_the_registry():
    text = README.read_text()
    table = [line for line in text.splitlines() if re.match(r"^\| `\w+` \| \w+ \| ", line)]
    # the methods table is the first block of such rows
    rows = []
    for line in text.splitlines():
        if line in table and (not rows or text.splitlines().index(line) == rows[-1][0] + 1):
            rows.append((text.splitlines().index(line), line))
    assert "\n".join(line for _, line in rows) == "\n".join(markdown_table().splitlines()[2:])


def gradient_times_sign(model, x, target, *, scale=1.0, batch_size=256, progress=None):
    """A user's own method: scale * |x| * sign(gradient), through the model protocol."""
    grad = torch.cat(
        [
            model.gradient(x[s : s + batch_size], target.take(slice(s, s + batch_size))).grad
            for s in range(0, len(x), batch_size)
        ]
    )
    return MethodResult(scale * x.abs() * grad.sign(), extras={"scale": scale})


@pytest.fixture
def registered():
    spec = cl.register(
        cl.MethodSpec(
            name="gradient_sign",
            fn=gradient_times_sign,
            family="gradient",
            summary="|x| times the sign of the gradient (a user's own method).",
            extras={"scale": "the scale used"},
            test_params={"scale": 2.0},
        )
    )
    yield spec
    cl.unregister("gradient_sign")


def reference(model, x, target, scale):
    inputs = torch.from_numpy(x).requires_grad_(True)
    score = model(inputs)[torch.arange(len(x)), torch.as_tensor(target)].sum()
    (grad,) = torch.autograd.grad(score, inputs)
    return (scale * inputs.abs() * grad.sign()).detach().numpy()


def test_an_outside_method_works_everywhere_with_no_other_edit(registered, tiny, tiny_x, tmp_path):
    assert "gradient_sign" in cl.methods().names()
    assert "gradient_sign" in cl.usable_on(tiny)
    exp = cl.explain(tiny, tiny_x, "gradient_sign", target=1, scale=3.0)
    np.testing.assert_allclose(exp.attributions, reference(tiny, tiny_x, [1] * 5, 3.0), rtol=1e-6)
    assert exp.extras["scale"] == 3.0
    check_method("gradient_sign", tiny, tiny_x)  # conformance, with its test_params
    table = evaluate(tiny, tiny_x, methods=["gradient_sign", "saliency"], sanity=False, n_steps=4)
    assert [row.method for row in table.rows] == ["gradient_sign", "saliency"]
    page = cl.report(
        tiny,
        tiny_x,
        methods=["gradient_sign"],
        out=tmp_path / "r.html",
        metric_cases=0,
        prototypes=False,
    )
    assert "gradient_sign" in page.read_text()
    torch.jit.script(tiny).save(str(tmp_path / "model.pt"))
    np.save(tmp_path / "x.npy", tiny_x)
    out = tmp_path / "exp.npz"
    code = main(
        [
            "explain",
            str(tmp_path / "model.pt"),
            str(tmp_path / "x.npy"),
            "--method",
            "gradient_sign",
            "--param",
            "scale=2",
            "--target",
            "1",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    loaded = cl.Explanation.load(out)
    np.testing.assert_allclose(
        loaded.attributions, reference(tiny, tiny_x, [1] * 5, 2.0), rtol=1e-6
    )


def test_outside_method_is_refused_where_it_cannot_run(registered, tiny_x):
    def black_box(x):
        return np.stack([x.mean(axis=(1, 2)), -x.mean(axis=(1, 2))], axis=1)

    with pytest.raises(ValueError, match="'gradient_sign' needs gradients.*occlusion"):
        cl.explain(black_box, tiny_x, "gradient_sign")


def test_register_refuses_duplicates_and_bad_specs(registered):
    with pytest.raises(ValueError, match="already registered"):
        cl.register(registered)
    with pytest.raises(TypeError, match="batch_size and progress"):
        cl.MethodSpec(
            name="broken",
            fn=lambda model, x, target: None,
            family="gradient",
            summary="no runtime arguments",
        )
    with pytest.raises(ValueError, match="no defaults"):
        cl.MethodSpec(name="odd", fn=gradient_times_sign, family="mine", summary="?")


def test_tsr_inherits_its_base_methods_needs(tiny_x):
    def black_box(x):
        return np.stack([x.mean(axis=(1, 2)), -x.mean(axis=(1, 2))], axis=1)

    assert "tsr" not in cl.usable_on(black_box)  # its default base, saliency, needs gradients
    with pytest.raises(ValueError, match="runs base='saliency', and 'saliency' needs gradients"):
        cl.explain(black_box, tiny_x, "tsr")
    exp = cl.explain(
        black_box,
        tiny_x,
        "tsr",
        base="occlusion",
        window=10,
        base_params={"window": 10, "stride": 10},
    )
    assert exp.attributions.shape == tiny_x.shape


def test_every_spec_is_complete():
    for spec in REGISTRY.values():
        assert spec.meaning and spec.summary, spec.name
        assert set(spec.test_params) <= set(spec.parameters), spec.name
        assert set(spec.demo_params) <= set(spec.parameters), spec.name
        assert set(spec.report_params) <= set(spec.parameters), spec.name
