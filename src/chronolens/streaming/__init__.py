"""Explaining whole datasets from disk to disk (:func:`explain_dataset`).

Sources, a Zarr store, and local, Dask and Ray engines; Dask, Ray and Zarr load only when a job
uses them.
"""

from chronolens.streaming.job import DatasetJob, explain_dataset
from chronolens.streaming.sources import open_source
from chronolens.streaming.summaries import DatasetSummary, summarize

__all__ = ["DatasetJob", "DatasetSummary", "explain_dataset", "open_source", "summarize"]
