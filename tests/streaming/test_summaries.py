"""Dataset summaries, streamed from the store, against numpy on the whole arrays."""

import numpy as np
import zarr

from chronolens.streaming.summaries import summarize


def _group(tmp_path, n=37, c=3, t=20, chunk=8):
    rng = np.random.default_rng(5)
    a = rng.normal(size=(n, c, t)).astype(np.float32)
    target = rng.integers(0, 3, n)
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w")
    group.create_array("attributions", data=a, chunks=(chunk, c, t))
    group.create_array("target", data=target, chunks=(chunk,))
    group.attrs["chunk_size"] = chunk
    return group, a, target


def test_class_means_and_counts(tmp_path):
    group, a, target = _group(tmp_path)
    s = summarize(group, n_boot=10)
    for i, cls in enumerate(np.unique(target)):
        np.testing.assert_allclose(s.class_means[i], a[target == cls].astype(np.float64).mean(0))
        assert s.counts[i] == (target == cls).sum()


def test_channel_importance_and_bootstrap_interval(tmp_path):
    group, a, _ = _group(tmp_path)
    s = summarize(group, n_boot=300, seed=1)
    per_case = np.abs(a.astype(np.float64)).mean(axis=2)
    np.testing.assert_allclose(s.channel_importance, per_case.mean(0))
    rng = np.random.default_rng(1)
    boots = np.array([per_case[rng.integers(0, len(a), len(a))].mean(0) for _ in range(300)])
    np.testing.assert_allclose(s.channel_ci[:, 0], np.quantile(boots, 0.025, axis=0))
    assert (s.channel_ci[:, 0] <= s.channel_importance).all()
    assert (s.channel_importance <= s.channel_ci[:, 1]).all()


def test_top_windows_by_brute_force(tmp_path):
    group, a, _ = _group(tmp_path)
    s = summarize(group, width=4, k=5, n_boot=2)
    profile = np.abs(a.astype(np.float64)).sum(axis=1)
    best = []
    for case in range(len(a)):
        scores = [profile[case, i : i + 4].mean() for i in range(a.shape[2] - 3)]
        best.append((max(scores), case, int(np.argmax(scores))))
    best.sort(key=lambda r: -r[0])
    assert [(c, st) for c, st, _ in s.top_windows] == [(c, st) for _, c, st in best[:5]]
    np.testing.assert_allclose([v for *_, v in s.top_windows], [v for v, *_ in best[:5]])


def test_summary_figure(tmp_path):
    from chronolens.plot.dataset import plot_dataset_summary

    group, *_ = _group(tmp_path)
    fig = plot_dataset_summary(summarize(group, n_boot=5))
    assert len(fig.axes) >= 4  # three classes, the importance bars (and a colorbar)
    fig.savefig(tmp_path / "s.png")
