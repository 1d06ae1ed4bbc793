"""The safety check on Keras model files runs before Keras (which it does not need) is imported."""

import json
import zipfile

import pytest

from chronolens._keras_files import check_keras_file
from chronolens.files import load_model


def archive(path, config):
    with zipfile.ZipFile(path, "w") as handle:
        handle.writestr("config.json", json.dumps(config))
        handle.writestr("metadata.json", "{}")
    return path


def layer(class_name, module="keras.layers", **extra):
    return {"module": module, "class_name": class_name, "config": {}, **extra}


def test_plain_keras_layers_pass(tmp_path):
    config = layer("Sequential", "keras", config={"layers": [layer("Conv1D"), layer("Dense")]})
    check_keras_file(archive(tmp_path / "ok.keras", config))


@pytest.mark.parametrize(
    ("inner", "named"),
    [
        (layer("Lambda"), "Lambda layer"),
        (layer("Conv1D", config={"activation": {"class_name": "__lambda__"}}), "bytecode"),
        (layer("MyLayer", module="my_package.layers"), "'my_package.layers'"),
        (layer("Dense", module="os"), "'os'"),
        (layer("Thing", registered_name="Custom>Thing"), "'Custom>Thing'"),
    ],
)
def test_code_in_a_model_file_is_refused_before_loading(tmp_path, inner, named):
    config = layer("Functional", "keras", config={"layers": [layer("Conv1D"), inner]})
    path = archive(tmp_path / "unsafe.keras", config)
    with pytest.raises(ValueError, match=f"was not loaded: it contains .*{named}.*run code"):
        load_model(path)


def test_unreadable_files(tmp_path):
    (tmp_path / "x.keras").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a Keras archive"):
        load_model(tmp_path / "x.keras")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as handle:
        handle.writestr("other.txt", "")
    with pytest.raises(ValueError, match="without a Keras model config"):
        load_model(tmp_path / "empty.keras")
    (tmp_path / "x.h5").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="h5py|not a readable HDF5 file"):
        load_model(tmp_path / "x.h5")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.keras")
