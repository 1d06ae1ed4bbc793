"""Native Guide (Delaney, Greene & Keane, ICCBR 2021): a window from the nearest unlike neighbour.

For each query, the nearest unlike neighbour (NUN) is the closest reference case of another
class (of the target class when one is asked for), by DTW or Euclidean distance. A relevance
map of the NUN for its own class (the paper: its class activation map) ranks contiguous time
windows; the window of length ``L`` with the largest summed relevance is copied from the NUN
into the query, and ``L`` grows from 1 until the predicted class flips. Copying the whole series
is the NUN itself, so a NUN the model classes as intended always yields a counterfactual.

With several channels the window spans every channel (``window="all"``, the paper's univariate
rule applied to all channels at once) or a single channel (``window="one"``: the best channel
and window by relevance, for sparser counterfactuals).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chronolens.counterfactual._distances import distances_to
from chronolens.counterfactual._scoring import Scorer

__all__ = ["RELEVANCE_DEFAULTS", "native_guide", "nearest_unlike_neighbours"]

#: Relevance methods tried in order when ``relevance=None``: the first one the model allows.
RELEVANCE_DEFAULTS = ("cam", "grad_cam", "occlusion")
#: The same for ``window="one"``, which needs a map per channel to choose the channel.
RELEVANCE_DEFAULTS_ONE = ("channel_grad_cam", "occlusion")


def nearest_unlike_neighbours(
    x: np.ndarray,
    original: np.ndarray,
    target: np.ndarray,
    ref_x: np.ndarray,
    ref_labels: np.ndarray,
    distance: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Index into the reference of each case's NUN, and its distance.

    The candidates of case ``i`` are the reference cases whose label differs from
    ``original[i]`` and, when ``target[i] >= 0``, equals it. Ties go to the first index.
    """
    index = np.empty(len(x), dtype=np.int64)
    found = np.empty(len(x), dtype=np.float64)
    for i, query in enumerate(x):
        allowed = ref_labels != original[i]
        if target[i] >= 0:
            allowed &= ref_labels == target[i]
        candidates = np.flatnonzero(allowed)
        d = distances_to(query, ref_x[candidates], distance)
        best = int(np.argmin(d))
        index[i], found[i] = candidates[best], d[best]
    return index, found


def _relevance(
    model: Any,
    nuns: np.ndarray,
    classes: np.ndarray,
    relevance: str | None,
    params: dict[str, Any],
    per_channel: bool,
) -> tuple[np.ndarray, str]:
    """Relevance maps (n, c, t) of the NUNs for their classes, and the method that made them.

    ``per_channel`` (``window="one"``) needs a map with one row per channel.
    """
    from chronolens._explain import explain
    from chronolens.models.base import CapabilityError
    from chronolens.registry import REGISTRY, missing_capability

    defaults = RELEVANCE_DEFAULTS_ONE if per_channel else RELEVANCE_DEFAULTS
    names = defaults if relevance is None else (relevance,)
    failures = []
    for name in names:
        spec = REGISTRY.get(name)
        missing = None if spec is None else missing_capability(spec, model)
        if relevance is not None and (spec is None or missing is not None):
            from chronolens.registry import get_method

            get_method(name)  # an unknown name fails with suggestions
            raise ValueError(f"`relevance` {name!r} does not run on this model: {missing}")
        if spec is None or missing is not None:
            continue
        run = dict(params)
        if name == "occlusion" and "window" not in run:  # its default 15 points, at most t / 4
            run["window"] = max(1, min(15, nuns.shape[2] // 4))
        try:
            exp = explain(model, nuns, name, target=classes.tolist(), progress=False, **run)
        except (CapabilityError, ValueError) as error:
            if relevance is not None:
                raise
            failures.append(f"{name}: {error}")
            continue
        if per_channel and not exp.per_channel and nuns.shape[1] > 1:
            raise ValueError(
                f"window='one' chooses a channel by its relevance, but relevance={name!r} gives "
                "one map shared by every channel; pass a per-channel method (e.g. "
                "relevance='channel_grad_cam' or 'occlusion') or window='all'."
            )
        return exp.broadcast().astype(np.float64), name
    raise ValueError(
        "No relevance method works on this model for Native Guide"
        + (f" ({'; '.join(failures)})" if failures else "")
        + "; pass relevance='occlusion' (any model) or another method of chronolens.methods()."
    )


def _windows(rel: np.ndarray, length: int, per_channel: bool) -> tuple[int, int]:
    """``(channel or -1, start)`` of the window of ``length`` with the largest relevance."""
    rows = rel if per_channel else rel.sum(axis=0, keepdims=True)
    cumulative = np.concatenate([np.zeros((rows.shape[0], 1)), np.cumsum(rows, axis=1)], axis=1)
    sums = cumulative[:, length:] - cumulative[:, :-length]
    row, start = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return (int(row) if per_channel else -1), int(start)


def _candidates(
    query: np.ndarray, nun: np.ndarray, rel: np.ndarray, lengths: range, per_channel: bool
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The query with the best window of each length copied in, and ``(channel, start, L)``."""
    series, where = [], []
    for length in lengths:
        channel, start = _windows(rel, length, per_channel)
        candidate = query.copy()
        rows = slice(None) if channel < 0 else slice(channel, channel + 1)
        candidate[rows, start : start + length] = nun[rows, start : start + length]
        series.append(candidate)
        where.append((channel, start, length))
    return np.stack(series), where


def _flips(probabilities: np.ndarray, original: int, target: int) -> np.ndarray:
    predicted = probabilities.argmax(axis=1)
    return predicted == target if target >= 0 else predicted != original


def _search_one(
    scorer: Scorer,
    query: np.ndarray,
    nun: np.ndarray,
    rel: np.ndarray,
    classes: tuple[int, int, int],
    per_channel: bool,
    max_length: int,
) -> tuple[np.ndarray, tuple[int, int, int], bool]:
    """Grow the window from 1 to ``max_length`` until the class flips; best try when none does.

    ``classes`` is ``(original, target or -1, the NUN's class)``. Lengths are scored one batch
    at a time and the shortest flipping length wins, as the paper's one-at-a-time loop.
    """
    original, target, nun_class = classes
    best, best_where, best_p = query, (-1, -1, 0), -np.inf
    step = max(1, scorer.batch_size)
    for first in range(1, max_length + 1, step):
        lengths = range(first, min(first + step, max_length + 1))
        series, where = _candidates(query, nun, rel, lengths, per_channel)
        probabilities = scorer.probabilities(series)
        flips = np.flatnonzero(_flips(probabilities, original, target))
        if flips.size:
            k = int(flips[0])
            return series[k], where[k], True
        aim = probabilities[:, target if target >= 0 else nun_class]
        k = int(np.argmax(aim))
        if aim[k] > best_p:
            best, best_where, best_p = series[k], where[k], float(aim[k])
    return best, best_where, False


def native_guide(
    scorer: Scorer,
    x: np.ndarray,
    original: np.ndarray,
    target: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray],
    *,
    distance: str,
    relevance: str | None,
    relevance_params: dict[str, Any],
    window: str,
    max_length: int | None,
) -> dict[str, Any]:
    """Native Guide counterfactuals of every case of ``x`` (n, c, t).

    Returns the per-case arrays ``counterfactual``, ``reference_index``, ``window_start``,
    ``window_length``, ``found`` and ``notes``, and the ``params`` that ran.
    """
    ref_x, ref_labels = reference
    index, nun_distance = nearest_unlike_neighbours(
        x, original, target, ref_x, ref_labels, distance
    )
    nuns = ref_x[index]
    rel, used = _relevance(
        scorer.model, nuns, ref_labels[index], relevance, relevance_params, window == "one"
    )
    n, _, t = x.shape
    max_length = t if max_length is None else min(max_length, t)
    out: dict[str, Any] = {
        "counterfactual": np.empty_like(x),
        "window_start": np.full(n, -1, dtype=np.int64),
        "window_length": np.zeros(n, dtype=np.int64),
        "found": np.zeros(n, dtype=bool),
        "notes": [],
    }
    for i in range(n):
        classes = (int(original[i]), int(target[i]), int(ref_labels[index[i]]))
        series, (_, start, length), found = _search_one(
            scorer, x[i], nuns[i], rel[i], classes, window == "one", max_length
        )
        out["counterfactual"][i] = series
        out["window_start"][i], out["window_length"][i] = start, length
        out["found"][i] = found
        out["notes"].append(
            ""
            if found
            else f"No window of up to {max_length} points copied from the nearest unlike "
            f"neighbour (reference case {int(index[i])}) flips the class; shown: the window "
            "that came closest."
        )
    out["reference_index"] = index
    out["reference_distance"] = nun_distance
    out["params"] = {
        "distance": distance,
        "relevance": used,
        "relevance_params": dict(relevance_params),
        "window": window,
        "max_length": max_length,
    }
    return out
