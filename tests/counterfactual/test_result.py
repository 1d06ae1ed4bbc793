"""The Counterfactual result: frozen, sliced case by case, saved without pickle, summarised."""

import dataclasses
import json
import zipfile

import numpy as np
import pytest
from tests.counterfactual.planted import planted_window_data, window_black_box

import chronolens as cl
from chronolens.counterfactual import Counterfactual


@pytest.fixture(scope="module")
def result():
    x, ref, y = planted_window_data(n_query=3)
    return cl.counterfactual(window_black_box, x, reference=(ref, y), distance="euclidean")


def test_frozen_and_read_only(result):
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.method = "comte"
    with pytest.raises(ValueError):
        result.counterfactual[0, 0, 0] = 1.0


def test_slicing_keeps_every_per_case_field(result):
    part = result[1:]
    one = result[2]
    assert len(part) == 2 and len(one) == 1
    np.testing.assert_array_equal(one.counterfactual[0], result.counterfactual[2])
    np.testing.assert_array_equal(part.l1, result.l1[1:])
    assert one.notes == (result.notes[2],) and one.params == result.params
    with pytest.raises(IndexError, match="out of range"):
        result[5]


def test_to_dict_is_json_and_matches_the_arrays(result):
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["method"] == "native_guide" and summary["n_cases"] == 3
    assert summary["valid"] == int(result.validity.sum())
    for row, i in zip(summary["cases"], range(3), strict=True):
        assert row["l1"] == pytest.approx(float(result.l1[i]))
        assert row["new_class"] == int(result.new_class[i])


def test_save_and_load_without_pickle(result, tmp_path):
    path = result.save(tmp_path / "cf.npz")
    with zipfile.ZipFile(path) as archive:  # plain .npy members: none of them pickled
        for name in archive.namelist():
            header = archive.read(name)[:128]
            assert b"'descr': '|O'" not in header
    loaded = Counterfactual.load(path)
    for field in ("original", "counterfactual", "changed", "l1", "dtw", "validity"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(result, field))
    assert loaded.params == result.params and loaded.notes == result.notes
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a saved Counterfactual"):
        Counterfactual.load(tmp_path / "other.npz")


def test_the_package_name_is_callable_as_the_function():
    import chronolens.counterfactual as package

    x, ref, y = planted_window_data(n_query=1)
    cf = package(window_black_box, x, reference=(ref, y), distance="euclidean")
    assert isinstance(cf, Counterfactual) and callable(cl.counterfactual)
