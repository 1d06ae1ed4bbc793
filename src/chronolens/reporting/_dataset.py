"""The report's "Whole dataset" section: the views of a dataset job, read from its store.

``cl.report(..., dataset=job)`` adds, for the job written by :func:`chronolens.explain_dataset`
(a :class:`~chronolens.streaming.job.DatasetJob` or the path of its Zarr group): the mean
attribution of each explained class (channel x time), each channel's importance with a
bootstrap confidence interval, and the windows with the largest attribution across the whole
dataset. Everything comes from :func:`chronolens.streaming.summaries.summarize`, which reads the
store chunk by chunk: the dataset is never loaded whole.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from chronolens.reporting import _stats as stats

#: Windows listed in the section.
TOP_WINDOWS = 10
#: Bootstrap resamples of the channel importance intervals.
N_BOOT = 200
#: Level of those intervals.
LEVEL = 0.95


def open_job(dataset: Any) -> Any:
    """``dataset`` as a finished :class:`~chronolens.streaming.job.DatasetJob` (None stays None).

    Raises
    ------
    TypeError
        When ``dataset`` is neither a job nor a path.
    ValueError, FileNotFoundError
        When the path holds no job, or the job has chunks still to write.
    """
    if dataset is None:
        return None
    if isinstance(dataset, (str, os.PathLike)):
        try:
            from chronolens.streaming.job import DatasetJob
        except ImportError:  # pragma: no cover - zarr is part of the [streaming] extra
            raise ImportError(
                "`dataset`: reading a dataset job needs zarr: pip install 'chronolens[streaming]'."
            ) from None
        try:
            dataset = DatasetJob(dataset)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"`dataset`: no dataset job at {os.fspath(dataset)!r}; pass the `out` of "
                "chronolens.explain_dataset (a .zarr folder) or the job it returned."
            ) from None
        except Exception as error:  # not a Zarr group, or not one of a job
            raise ValueError(
                f"`dataset`: {os.fspath(dataset)!r} is not the output of "
                f"chronolens.explain_dataset ({type(error).__name__}: {error})."
            ) from None
    if not all(hasattr(dataset, name) for name in ("group", "summary", "complete", "attrs")):
        raise TypeError(
            f"`dataset` must be what chronolens.explain_dataset returned, or the path of its "
            f"output (a .zarr folder); got {type(dataset).__name__}."
        )
    if "attributions" not in dataset.group or "chunk_size" not in dataset.attrs:
        raise ValueError(f"`dataset`: {str(dataset.out)!r} is not the output of a dataset job.")
    if not dataset.complete:
        from chronolens.streaming.store import pending

        missing = len(pending(dataset.group))
        raise ValueError(
            f"`dataset`: the job at {str(dataset.out)!r} has {missing} chunks not written yet; "
            "run chronolens.explain_dataset again with the same arguments to finish it."
        )
    return dataset


def _row_names(c_attr: int, c_input: int, channel_names: Sequence[str]) -> list[str]:
    """Names of the rows of the job's maps."""
    if c_attr == c_input:
        if len(channel_names) == c_input:
            return [str(name) for name in channel_names]
        return [f"channel {i}" for i in range(c_input)]
    if c_attr == 1:
        return ["all channels (shared map)"]
    return [f"map row {i}" for i in range(c_attr)]


def _class_name(klass: int, class_names: Sequence[str], n_outputs: int) -> str:
    if klass < 0:
        return "no target"
    if len(class_names) == n_outputs and klass < len(class_names):
        return str(class_names[klass])
    return f"class {klass}"


def dataset_section(
    dataset: Any, page: dict[str, Any], max_points: int, seed: int
) -> dict[str, Any] | None:
    """The section's data (None without a dataset): class means, channel importance, windows.

    ``page`` is the rest of the report's data, whose class and channel names the section uses
    when the job explains the same classes and channels.
    """
    if dataset is None:
        return None
    class_names, channel_names = page["classes"], page["channels"]
    job = open_job(dataset)
    group, attrs = job.group, job.attrs
    n, c_attr, t = (int(v) for v in group["attributions"].shape)
    n_outputs = int(group["scores"].shape[1])
    summary = job.summary(k=TOP_WINDOWS, n_boot=N_BOOT, level=LEVEL, seed=seed)
    factor = stats.pool_factor(t, max_points)
    data, scale = stats.encode_attributions(stats.pool(summary.class_means, factor, peak=True))
    target = group["target"]
    windows = [
        {
            "case": int(case),
            "start": int(start),
            "stop": int(start) + summary.width,
            "score": stats.rounded(score),
            "explained": _class_name(int(target[int(case)]), class_names, n_outputs),
        }
        for case, start, score in summary.top_windows
    ]
    return {
        "out": str(job.out),
        "method": str(attrs["method"]),
        "cases": n,
        "shape": [n, c_attr, t],
        "rows": _row_names(c_attr, int(attrs["shape"][1]), channel_names),
        "signed": bool(summary.class_means.min(initial=0.0) < 0),
        "factor": factor,
        "points": -(-t // factor),
        "classes": [
            {"klass": int(k), "name": _class_name(int(k), class_names, n_outputs), "count": int(m)}
            for k, m in zip(summary.classes, summary.counts)
        ],
        "means": data,
        "scale": stats.rounded_list(scale),
        "importance": stats.rounded_list(summary.channel_importance),
        "interval": stats.rounded_list(summary.channel_ci),
        "level": LEVEL,
        "boot": N_BOOT,
        "width": summary.width,
        "windows": windows,
    }
