"""CoMTE (Ates, Aksar, Leung & Coskun, ICAPR 2021): whole channels swapped in from a distractor.

A distractor is a reference case of the target class that the model classes as such, taken
nearest first (Euclidean distance over all points, as CoMTE's KD-trees). The counterfactual is
the query with the fewest of its channels replaced by the distractor's that makes the model
predict the target class. Two searches:

- ``"greedy"`` (CoMTE's brute-force search): add, one at a time, the channel whose swap raises
  the target probability most; stop at the flip, or when no swap raises it. Every distractor
  is tried and the one needing the fewest channels wins (ties: the higher target probability).
- ``"optimized"`` (CoMTE's optimized search): a random hill climb over which channels to swap
  (flip one channel per step, keep the step when the loss drops; loss
  ``max(0, 0.95 - p_target)**2 + 0.8 * max(0, n_swapped - 3)``, CoMTE's), restarted
  :data:`RESTARTS` times, then pruned greedily to the channels that raise the target
  probability; CoMTE's greedy search is the backup when it finds no flip.
- ``"exhaustive"``: every set of 1, 2, ... channels, smallest first; a proven minimum, for up to
  :data:`MAX_EXHAUSTIVE_CHANNELS` channels.

With ``target_class=None`` the target is each query's second most probable class, as in CoMTE.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from chronolens.counterfactual._distances import distances_to
from chronolens.counterfactual._scoring import Scorer

__all__ = ["MAX_EXHAUSTIVE_CHANNELS", "comte", "distractors"]

#: Most channels for ``search="exhaustive"`` (2**12 channel sets per distractor).
MAX_EXHAUSTIVE_CHANNELS = 12
#: CoMTE's optimized search: hill-climb restarts, failed steps before a climb stops, steps.
RESTARTS, MAX_ATTEMPTS, MAX_STEPS = 5, 10, 100


def distractors(
    query: np.ndarray, target: int, ref_x: np.ndarray, ref_ok: np.ndarray, count: int
) -> np.ndarray:
    """Indices of the ``count`` nearest reference cases of class ``target`` (``ref_ok``)."""
    candidates = np.flatnonzero(ref_ok == target)
    order = np.argsort(distances_to(query, ref_x[candidates], "euclidean"), kind="stable")
    return candidates[order[:count]]


def _swapped(query: np.ndarray, distractor: np.ndarray, sets: list[tuple[int, ...]]) -> np.ndarray:
    series = np.repeat(query[None], len(sets), axis=0)
    for row, channels in enumerate(sets):
        series[row, list(channels)] = distractor[list(channels)]
    return series


def _greedy(
    scorer: Scorer, query: np.ndarray, distractor: np.ndarray, target: int
) -> tuple[tuple[int, ...], float, bool]:
    """CoMTE's greedy search on one distractor: ``(channels, target probability, flipped)``."""
    chosen: tuple[int, ...] = ()
    current = scorer.probabilities(query[None])[0]
    differing = [c for c in range(query.shape[0]) if np.any(query[c] != distractor[c])]
    while int(current.argmax()) != target:
        left = [c for c in differing if c not in chosen]
        if not left:
            break
        trials = [(*chosen, c) for c in left]
        probabilities = scorer.probabilities(_swapped(query, distractor, trials))
        best = int(np.argmax(probabilities[:, target]))
        if probabilities[best, target] <= current[target]:
            break  # no swap helps: CoMTE stops here
        chosen, current = trials[best], probabilities[best]
    return chosen, float(current[target]), int(current.argmax()) == target


def _exhaustive(
    scorer: Scorer, query: np.ndarray, distractor: np.ndarray, target: int
) -> tuple[tuple[int, ...], float, bool]:
    """The smallest channel set that flips the class (highest target probability among ties)."""
    differing = [c for c in range(query.shape[0]) if np.any(query[c] != distractor[c])]
    best: tuple[tuple[int, ...], float] = ((), -1.0)
    for size in range(1, len(differing) + 1):
        sets = list(combinations(differing, size))
        probabilities = scorer.probabilities(_swapped(query, distractor, sets))
        flipped = np.flatnonzero(probabilities.argmax(axis=1) == target)
        if flipped.size:
            k = int(flipped[np.argmax(probabilities[flipped, target])])
            return sets[k], float(probabilities[k, target]), True
        k = int(np.argmax(probabilities[:, target]))
        if probabilities[k, target] > best[1]:
            best = (sets[k], float(probabilities[k, target]))
    return best[0], best[1], False


def _loss(p_target: float, n_swapped: int) -> float:
    """CoMTE's LossDiscreteState: reach 0.95 for the target, more than 3 channels cost 0.8."""
    return max(0.0, 0.95 - p_target) ** 2 + 0.8 * max(0, n_swapped - 3)


def _climb(
    scorer: Scorer, query: np.ndarray, distractor: np.ndarray, target: int, seed: int
) -> tuple[int, ...]:
    """Random-restart hill climb over channel masks; the best mask's channels."""
    differing = [c for c in range(query.shape[0]) if np.any(query[c] != distractor[c])]
    rng = np.random.default_rng(seed)

    def loss(mask: np.ndarray) -> float:
        chosen = tuple(c for c, on in zip(differing, mask, strict=True) if on)
        p = scorer.probabilities(_swapped(query, distractor, [chosen]))[0, target]
        return _loss(float(p), len(chosen))

    best_mask, best_loss = np.zeros(len(differing), dtype=bool), np.inf
    for _ in range(RESTARTS + 1):
        mask = np.zeros(len(differing), dtype=bool)  # CoMTE starts every climb at no swap
        current, attempts, steps = loss(mask), 0, 0
        while attempts < MAX_ATTEMPTS and steps < MAX_STEPS and differing:
            steps += 1
            step = mask.copy()
            step[rng.integers(len(differing))] ^= True
            value = loss(step)
            if value < current:
                mask, current, attempts = step, value, 0
            else:
                attempts += 1
        if current < best_loss:
            best_mask, best_loss = mask, current
    return tuple(c for c, on in zip(differing, best_mask, strict=True) if on)


def _prune(
    scorer: Scorer, query: np.ndarray, distractor: np.ndarray, target: int, found: tuple[int, ...]
) -> tuple[tuple[int, ...], float, bool]:
    """CoMTE's pruning: from ``found``, add the channel that raises p_target most, while any."""
    chosen: tuple[int, ...] = ()
    current = scorer.probabilities(query[None])[0]
    while int(current.argmax()) != target:
        left = [c for c in found if c not in chosen]
        if not left:
            break
        trials = [(*chosen, c) for c in left]
        probabilities = scorer.probabilities(_swapped(query, distractor, trials))
        best = int(np.argmax(probabilities[:, target]))
        if probabilities[best, target] <= current[target]:
            break
        chosen, current = trials[best], probabilities[best]
    return chosen, float(current[target]), int(current.argmax()) == target


def _optimized(
    scorer: Scorer, query: np.ndarray, distractor: np.ndarray, target: int, seed: int
) -> tuple[tuple[int, ...], float, bool]:
    """CoMTE's optimized search: climb, prune, and the greedy search when that fails."""
    found = _prune(
        scorer, query, distractor, target, _climb(scorer, query, distractor, target, seed)
    )
    return found if found[2] else _greedy(scorer, query, distractor, target)


def _better(new: tuple[tuple[int, ...], float, bool], old: Any) -> bool:
    if old is None:
        return True
    if new[2] != old[2]:
        return new[2]
    if new[2] and len(new[0]) != len(old[0]):
        return len(new[0]) < len(old[0])
    return new[1] > old[1]


def comte(
    scorer: Scorer,
    x: np.ndarray,
    target: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray],
    *,
    search: str,
    n_distractors: int,
    seed: int,
) -> dict[str, Any]:
    """CoMTE counterfactuals of every case of ``x`` (n, c, t) towards ``target`` (n,).

    ``reference`` is ``(ref_x, ref_ok)``: each reference case's class when the model agrees with
    it, -1 otherwise. Returns ``counterfactual``, ``reference_index``, ``found``, ``notes`` and
    the ``params`` that ran.
    """
    ref_x, ref_ok = reference
    searches = {"greedy": _greedy, "exhaustive": _exhaustive}
    n = len(x)
    out: dict[str, Any] = {
        "counterfactual": x.copy(),
        "reference_index": np.full(n, -1, dtype=np.int64),
        "found": np.zeros(n, dtype=bool),
        "channels": [],
        "notes": [],
    }
    for i in range(n):
        best, best_index = None, -1
        for index in distractors(x[i], int(target[i]), ref_x, ref_ok, n_distractors):
            if search == "optimized":
                result = _optimized(scorer, x[i], ref_x[index], int(target[i]), seed + i)
            else:
                result = searches[search](scorer, x[i], ref_x[index], int(target[i]))
            if _better(result, best):
                best, best_index = result, int(index)
        if best is None:  # the caller checked that every target has a distractor
            raise RuntimeError(f"No distractor of class {int(target[i])} for case {i}.")
        channels = list(best[0])
        out["counterfactual"][i, channels] = ref_x[best_index, channels]
        out["reference_index"][i], out["found"][i] = best_index, best[2]
        out["channels"].append(channels)
        out["notes"].append(
            ""
            if best[2]
            else f"No set of channels swapped from the {n_distractors} nearest distractors "
            f"flips the class to {int(target[i])}; shown: the swap that came closest."
        )
    out["params"] = {"search": search, "n_distractors": n_distractors}
    if search == "optimized":
        out["params"]["seed"] = seed
    return out
