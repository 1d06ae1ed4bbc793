"""One re-entrant lock per user model: explanations of a shared model run one at a time.

An explanation switches a torch model to eval mode and its parameters' ``requires_grad`` off
for its duration, and attaches hooks; two threads doing that to one model at once would see
each other's state (wrong maps, a model left in the wrong mode). The adapter's session holds the
model's lock from its first call to its last, so concurrent explanations of one model are
serialised, each sees the model as its caller left it, and the model ends exactly as it began.
Different models never wait for each other.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

_GUARD = threading.Lock()
_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_BY_ID: dict[int, threading.RLock] = {}  # for models that cannot be weakly referenced


def model_lock(model: Any) -> threading.RLock:
    """The lock of ``model`` (created on first use; it lives as long as the model)."""
    with _GUARD:
        try:
            lock = _LOCKS.get(model)
            if lock is None:
                lock = _LOCKS[model] = threading.RLock()
        except TypeError:  # not weak-referenceable
            lock = _BY_ID.setdefault(id(model), threading.RLock())
        return lock
