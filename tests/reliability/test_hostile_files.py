"""Hostile model files: nothing in them runs, and nothing exhausts memory.

Each payload writes a marker file when unpickled. Every test first proves that the payload is
live (the unguarded loader runs it), then that chronolens refuses the file with a clear error and
the marker never appears.
"""

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from chronolens.cli import main
from chronolens.files import load_model
from chronolens.testing import tiny_conv_model


class Payload:
    """Unpickling this object creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


@pytest.fixture
def archive(tmp_path):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    program = torch.export.export(
        model, (torch.zeros(2, 3, 40),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    path = tmp_path / "good.pt2"
    torch.export.save(program, str(path))
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 40), np.float32))
    return path


def rewrite(source: Path, target: Path, change) -> Path:
    """Copy a zip archive, letting ``change(name, data) -> data`` alter members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            new.writestr(info.filename, change(info.filename, old.read(info.filename)))
    return target


def pickled_weight(archive: Path, marker: Path) -> Path:
    def change(name, data):
        if name.endswith("_weights_config.json"):
            config = json.loads(data)
            config["config"]["conv1.bias"]["use_pickle"] = True
            return json.dumps(config).encode()
        if name.endswith("/data/weights/weight_1"):
            return pickle.dumps(Payload(marker))
        return data

    return rewrite(archive, archive.with_name("pickled_weight.pt2"), change)


def poisoned_sample_inputs(archive: Path, marker: Path) -> Path:
    # torch falls back to torch.load(weights_only=False) when the restricted loader refuses.
    def change(name, data):
        return pickle.dumps(Payload(marker)) if "/data/sample_inputs/" in name else data

    return rewrite(archive, archive.with_name("sample_inputs.pt2"), change)


def opaque_constant(archive: Path, marker: Path) -> Path:
    def change(name, data):
        if name.endswith("_constants_config.json"):
            tensor = {  # torch maps every payload file to storage first, so give it a shape
                "dtype": 7,
                "sizes": [{"as_int": 1}],
                "requires_grad": False,
                "device": {"type": "cpu", "index": None},
                "strides": [{"as_int": 1}],
                "storage_offset": {"as_int": 0},
                "layout": 7,
            }
            meta = {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": False}
            config = {"config": {"evil": {**meta, "tensor_meta": tensor}}}
            return json.dumps(config).encode()
        return data

    path = rewrite(archive, archive.with_name("opaque.pt2"), change)
    with zipfile.ZipFile(path, "a") as zf:
        root = zf.namelist()[0].split("/")[0]
        data = pickle.dumps(Payload(marker))
        zf.writestr(f"{root}/data/constants/opaque_obj_0", data + b"\0" * (-len(data) % 4))
    return path


ROUTES = [pickled_weight, poisoned_sample_inputs, opaque_constant]


@pytest.mark.parametrize("craft", ROUTES, ids=lambda f: f.__name__)
def test_the_payloads_are_live(archive, tmp_path, craft):
    marker = tmp_path / "ran"
    path = craft(archive, marker)
    try:
        torch.export.load(str(path))
    except Exception:
        pass
    assert marker.exists(), "the unguarded torch.export.load should run this payload"


@pytest.mark.parametrize("craft", ROUTES, ids=lambda f: f.__name__)
def test_load_model_refuses_pickles_in_export_archives(archive, tmp_path, craft):
    marker = tmp_path / "ran"
    path = craft(archive, marker)
    with pytest.raises(ValueError, match="would unpickle.*refuses it.*torch.export.save"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("command", ["explain", "evaluate"])
@pytest.mark.parametrize("craft", ROUTES, ids=lambda f: f.__name__)
def test_the_cli_refuses_them_too(archive, tmp_path, craft, command, capsys):
    marker = tmp_path / "ran"
    path = craft(archive, marker)
    extra = ["--method", "saliency"] if command == "explain" else ["--methods", "saliency"]
    args = [command, str(path), str(tmp_path / "x.npy"), *extra]
    if command == "explain":
        args += ["--out", str(tmp_path / "e.npz")]
    code = main(args)
    assert code != 0
    assert "would unpickle" in capsys.readouterr().err
    assert not marker.exists()


def test_a_clean_archive_still_loads(archive):
    module = load_model(archive)
    out = module(torch.zeros(4, 3, 40))
    assert out.shape == (4, 3)


def test_keras_config_bomb_is_refused_before_inflating(tmp_path):
    # config.json declares 6 GB: refused from the zip directory, nothing inflated.
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", b"{" + b" " * (70 * 2**20) + b"}")
    from chronolens._keras_files import check_keras_file

    with pytest.raises(ValueError, match="more than the 67,108,864 bytes"):
        check_keras_file(path)


def test_keras_config_that_lies_about_its_size_stops_at_the_limit(tmp_path, monkeypatch):
    from chronolens import _archive_safety

    monkeypatch.setattr(_archive_safety, "JSON_LIMIT", 1000)
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", b"{" + b" " * 5000 + b"}")
    with zipfile.ZipFile(path) as zf:
        zf.getinfo("config.json").file_size = 10  # the directory lies
        # zipfile stops at the declared size (and fails its CRC check); chronolens' own cap
        # stops at the limit: either way no more than the limit is inflated.
        with pytest.raises((zipfile.BadZipFile, _archive_safety.UnsafeArchiveError)):
            _archive_safety.read_member(zf, "config.json", 1000, "A configuration")


def test_deeply_nested_keras_config_is_a_clear_error(tmp_path):
    path = tmp_path / "deep.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "[" * 100000 + "]" * 100000)
    from chronolens._keras_files import check_keras_file

    with pytest.raises(ValueError, match="no readable Keras model config"):
        check_keras_file(path)


def npy_with_header(path: Path, shape, dtype="<f4", payload=b"\0" * 64) -> Path:
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(payload)
    return path


def test_npy_header_claiming_335_gib_is_a_clear_error_not_a_memory_error(tmp_path, capsys):
    from chronolens.files import load_series

    path = npy_with_header(tmp_path / "huge.npy", (1000, 9, 10_000_000))
    with pytest.raises(ValueError, match=r"claims an array of shape.*335\.3 GiB.*truncated"):
        load_series(path)
    model = tmp_path / "m.pt"
    torch.jit.script(tiny_conv_model(n_channels=3, n_classes=3)).save(str(model))
    code = main(
        ["explain", str(model), str(path), "--method", "saliency", "--out", str(tmp_path / "e.npz")]
    )
    assert code != 0
    assert "truncated or its header is wrong" in capsys.readouterr().err


def test_npz_member_with_a_lying_header_is_refused(tmp_path):
    from chronolens.files import load_series

    member = npy_with_header(tmp_path / "x.npy", (10**6, 10**6))
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(member, "x.npy")
    with pytest.raises(ValueError, match="claims an array"):
        load_series(path)


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    from chronolens.files import load_series

    marker = tmp_path / "ran"
    path = tmp_path / "objects.npy"
    np.save(path, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        load_series(path)
    assert not marker.exists()


def test_an_archive_exported_from_one_example_runs_one_case_at_a_time(tmp_path, capsys):
    # The usual export, from a single example, fixes the batch at 1.
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    torch.export.save(
        torch.export.export(model, (torch.zeros(1, 3, 40),)), str(tmp_path / "b1.pt2")
    )
    x = np.random.default_rng(0).normal(size=(4, 3, 40)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    import chronolens as cl

    for method in ("saliency", "grad_cam", "occlusion"):
        out = tmp_path / f"{method}.npz"
        assert (
            main(
                [
                    "explain",
                    str(tmp_path / "b1.pt2"),
                    str(tmp_path / "x.npy"),
                    "--method",
                    method,
                    "--target",
                    "1",
                    "--out",
                    str(out),
                    "--quiet",
                ]
            )
            == 0
        )
        expected = cl.explain(model, x, method, target=1).attributions
        np.testing.assert_allclose(
            cl.Explanation.load(out).attributions, expected, rtol=1e-4, atol=1e-6
        )


def test_an_archive_with_a_fixed_batch_above_one_names_the_export_fix(tmp_path):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    torch.export.save(
        torch.export.export(model, (torch.zeros(2, 3, 40),)), str(tmp_path / "b2.pt2")
    )
    with pytest.raises(
        ValueError, match=r"exactly 2 cases.*dynamic_shapes=\(\{0: torch.export.Dim"
    ):
        load_model(tmp_path / "b2.pt2")


def test_a_torchscript_archive_with_a_python_pickle_runs_nothing(tmp_path):
    model = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    good = tmp_path / "good.pt"
    torch.jit.script(model).save(str(good))
    marker = tmp_path / "ran"

    def change(name, data):
        return pickle.dumps(Payload(marker)) if name.endswith("/data.pkl") else data

    evil = rewrite(good, tmp_path / "evil.pt", change)
    with pytest.raises(ValueError, match="not a TorchScript archive"):
        load_model(evil)
    assert not marker.exists()  # TorchScript's own unpickler builds no Python objects
    pickle.loads(pickle.dumps(Payload(marker)))  # while the same payload is live in Python
    assert marker.exists()
