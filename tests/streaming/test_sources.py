import numpy as np
import pytest

from chronolens.streaming import explain_dataset, open_source


def _x(n=23):
    return np.random.default_rng(1).normal(size=(n, 3, 40)).astype(np.float32)


def test_npy_is_memory_mapped_and_round_trips(tmp_path):
    x = _x()
    np.save(tmp_path / "x.npy", x)
    source = open_source(tmp_path / "x.npy")
    assert isinstance(source.array, np.memmap)
    assert source.shape == (23, 3, 40)
    np.testing.assert_array_equal(source.read(5, 17), x[5:17])


def test_nlc_layout(tmp_path):
    x = _x()
    np.save(tmp_path / "x.npy", x.transpose(0, 2, 1))
    source = open_source(tmp_path / "x.npy", layout="nlc")
    assert source.shape == (23, 3, 40)
    np.testing.assert_array_equal(source.read(0, 23), x)


def test_shard_directory_reads_across_shards(tmp_path):
    x = _x()
    for i, (a, b) in enumerate([(0, 7), (7, 8), (8, 23)]):
        np.save(tmp_path / f"part-{i:03d}.npy", x[a:b])
    source = open_source(tmp_path)
    assert source.shape == (23, 3, 40)
    np.testing.assert_array_equal(source.read(3, 20), x[3:20])


def test_zarr_array_and_group(tmp_path):
    import zarr

    x = _x()
    group = zarr.open_group(str(tmp_path / "w.zarr"), mode="w")
    group.create_array("x", data=x, chunks=(5, 3, 40))
    np.testing.assert_array_equal(open_source(tmp_path / "w.zarr").read(4, 19), x[4:19])
    np.testing.assert_array_equal(open_source(tmp_path / "w.zarr" / "x").read(0, 23), x)


def test_parquet_list_columns_by_row_group(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = _x()
    table = pa.table({f"ch{c}": [list(map(float, row)) for row in x[:, c]] for c in range(3)})
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=6)
    source = open_source(tmp_path / "x.parquet")
    assert source.shape == (23, 3, 40)
    np.testing.assert_array_equal(source.read(4, 20), x[4:20])
    two = open_source(tmp_path / "x.parquet", columns=["ch2", "ch0"])
    np.testing.assert_array_equal(two.read(0, 23), x[:, [2, 0]])


def test_iterable_of_single_cases_and_batches(tmp_path, model_file, loaded):
    import chronolens as cl

    x = _x()
    items = [x[0], x[1:9], *list(x[9:])]
    job = explain_dataset(
        model_file, iter(items), method="saliency", out=tmp_path / "o.zarr", chunk_size=5
    )
    ref = cl.explain(loaded, x, "saliency", progress=False)
    np.testing.assert_array_equal(job.group["attributions"][:], ref.attributions)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="`source`"):
        open_source(tmp_path / "nope.npy")


def test_wrong_shape_is_refused(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((4, 40), np.float32))
    with pytest.raises(ValueError, match="n_cases, n_channels, n_timepoints"):
        open_source(tmp_path / "flat.npy")


def test_pickle_bearing_npy_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        open_source(tmp_path / "obj.npy")


def _rss_file_kib() -> int:
    """This process's resident file-backed pages (Linux), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    pytest.skip("no RssFile in /proc/self/status")


def test_reading_a_memory_map_leaves_its_pages_unmapped(tmp_path):
    """Read through, the source's resident memory does not grow with the file (108 MB)."""
    x = np.random.default_rng(0).normal(size=(3000, 9, 1000)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    source = open_source(tmp_path / "x.npy")
    before = _rss_file_kib()
    for start in range(0, 3000, 512):
        np.testing.assert_array_equal(source.read(start, start + 512), x[start : start + 512])
    grown = _rss_file_kib() - before
    assert grown < 16 * 1024, f"{grown} KiB of the {x.nbytes // 1024} KiB file stayed resident"
