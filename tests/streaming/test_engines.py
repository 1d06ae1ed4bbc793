"""Every engine writes what explain() gives on the same cases, bit for bit.

Deterministic methods (saliency, occlusion with a fixed baseline) equal explain() on the whole
batch whatever the chunking; a randomized method (smoothgrad) equals explain() on each chunk with
the chunk's recorded seed, and the three engines write the same bytes.
"""

import numpy as np
import pytest

import chronolens as cl
from chronolens.streaming import explain_dataset
from chronolens.streaming._runner import chunk_seed

CHUNK = 16
METHODS = [
    ("saliency", {}),
    ("smoothgrad", {"n_samples": 4}),
    ("occlusion", {"window": 5, "baseline": "zeros"}),
]


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _check(group, loaded, x, method, params):
    seeds = np.asarray(group["seed"][:])
    out = np.asarray(group["attributions"][:])
    if group.attrs["seed"] is not None:
        for k, seed in enumerate(seeds):
            part = slice(k * CHUNK, (k + 1) * CHUNK)
            assert seed == chunk_seed(group.attrs["seed"], k * CHUNK)
            ref = cl.explain(loaded, x[part], method, seed=int(seed), progress=False, **params)
            np.testing.assert_array_equal(out[part], ref.attributions)
            np.testing.assert_array_equal(group["scores"][part], ref.scores)
    if method != "smoothgrad":
        ref = cl.explain(loaded, x, method, progress=False, **params)
        np.testing.assert_array_equal(out, ref.attributions)
        np.testing.assert_array_equal(group["target"][:], ref.target)


@pytest.mark.parametrize(("method", "params"), METHODS)
def test_local_equals_explain(tmp_path, model_file, loaded, data, method, params):
    path, x = data
    job = explain_dataset(
        model_file,
        path,
        method=method,
        out=tmp_path / "o.zarr",
        chunk_size=CHUNK,
        seed=7,
        **params,
    )
    assert job.complete
    _check(job.group, loaded, x, method, params)


def test_deterministic_result_is_independent_of_chunking(tmp_path, model_file, data):
    path, _ = data
    a = explain_dataset(model_file, path, method="saliency", out=tmp_path / "a.zarr", chunk_size=7)
    b = explain_dataset(model_file, path, method="saliency", out=tmp_path / "b.zarr", chunk_size=60)
    np.testing.assert_array_equal(a.group["attributions"][:], b.group["attributions"][:])


@pytest.mark.parametrize(("method", "params"), METHODS)
def test_dask_equals_local(tmp_path, model_file, loaded, data, dask_client, method, params):
    path, x = data
    job = explain_dataset(
        model_file,
        path,
        method=method,
        out=tmp_path / "d.zarr",
        chunk_size=CHUNK,
        seed=7,
        engine="dask",
        client=dask_client,
        **params,
    )
    assert job.complete
    _check(job.group, loaded, x, method, params)


@pytest.mark.parametrize(("method", "params"), METHODS)
def test_ray_equals_local(tmp_path, model_file, loaded, data, ray_session, method, params):
    path, x = data
    job = explain_dataset(
        model_file,
        path,
        method=method,
        out=tmp_path / "r.zarr",
        chunk_size=CHUNK,
        seed=7,
        engine="ray",
        n_workers=1,
        device="cpu" if method == METHODS[0][0] else None,  # the default on a CPU cluster
        **params,
    )
    assert job.complete
    _check(job.group, loaded, x, method, params)


def test_ray_refuses_cuda_on_a_cluster_without_gpus(tmp_path, model_file, data, ray_session):
    import ray

    assert ray.cluster_resources().get("GPU", 0) == 0
    with pytest.raises(ValueError, match=r"`device`='cuda', but the Ray cluster has no GPUs"):
        explain_dataset(
            model_file,
            data[0],
            method="saliency",
            out=tmp_path / "g.zarr",
            engine="ray",
            device="cuda",
        )


def test_in_memory_module_is_exported_for_dask(tmp_path, data, dask_client):
    from chronolens.testing import tiny_conv_model

    path, x = data
    module = tiny_conv_model(n_channels=3, n_classes=3, seed=1)
    job = explain_dataset(
        module,
        path,
        method="saliency",
        out=tmp_path / "m.zarr",
        chunk_size=30,
        engine="dask",
        client=dask_client,
    )
    ref = cl.explain(module, x, "saliency", progress=False)
    np.testing.assert_allclose(job.group["attributions"][:], ref.attributions, atol=1e-6)


def test_another_job_in_out_is_refused(tmp_path, model_file, data):
    path, _ = data
    explain_dataset(model_file, path, method="saliency", out=tmp_path / "o.zarr", chunk_size=30)
    with pytest.raises(ValueError, match="overwrite=True"):
        explain_dataset(model_file, path, method="saliency", out=tmp_path / "o.zarr", chunk_size=20)


def test_bad_engine_and_callable_target(tmp_path, model_file, data):
    path, _ = data
    with pytest.raises(ValueError, match="engine"):
        explain_dataset(
            model_file, path, method="saliency", out=tmp_path / "o.zarr", engine="spark"
        )
    with pytest.raises(TypeError, match="`target`"):
        explain_dataset(
            model_file, path, method="saliency", out=tmp_path / "o.zarr", target=lambda o: o[:, 0]
        )


def test_explanation_view_of_a_slice(tmp_path, model_file, loaded, data):
    path, x = data
    job = explain_dataset(
        model_file, path, method="saliency", out=tmp_path / "o.zarr", chunk_size=16
    )
    view = job.explanation(slice(10, 25))
    ref = cl.explain(loaded, x[10:25], "saliency", progress=False)
    np.testing.assert_array_equal(view.attributions, ref.attributions)
    np.testing.assert_array_equal(view.x, x[10:25])
