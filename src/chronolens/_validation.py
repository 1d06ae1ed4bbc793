"""The one place where user-facing parameters are checked.

Every message names the parameter, what was received, what was expected and how to fix it.
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look like ``name``, best first."""
    return difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=0.4)


def suggestion(name: str, candidates: Sequence[str]) -> str:
    """Return a ' Did you mean ...?' sentence, or an empty string."""
    close = closest(name, candidates)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Check that ``value`` is an integer within bounds and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer; got {value!r} ({type(value).__name__}).")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be at most {maximum}; got {value}.")
    return value


def check_float(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
) -> float:
    """Check that ``value`` is a finite real number within bounds and return it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number; got {value!r} ({type(value).__name__}).")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"`{name}` must be finite; got {value}.")
    if minimum is not None:
        if strict_minimum and value <= minimum:
            raise ValueError(f"`{name}` must be greater than {minimum}; got {value}.")
        if not strict_minimum and value < minimum:
            raise ValueError(f"`{name}` must be at least {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be at most {maximum}; got {value}.")
    return value


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        hint = suggestion(value, choices) if isinstance(value, str) else ""
        raise ValueError(f"`{name}` must be one of {allowed}; got {value!r}.{hint}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Check that ``value`` is a boolean."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False; got {value!r}.")
    return value


#: Largest seed accepted (what NumPy and torch both take without overflow).
MAX_SEED = 2**63 - 1


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """Check a ``seed``: None or an integer in 0..2**63 - 1."""
    if seed is None:
        return None
    return check_int(seed, name, minimum=0, maximum=MAX_SEED)


def resolve_seed(seed: Any, name: str = "seed") -> int:
    """Return ``seed`` checked, or a fresh random seed when it is None.

    The one place where chronolens draws seeds.

    The drawn seed is what callers record (``extras["seed"]``), so a map made with ``seed=None``
    is reproduced by passing that recorded value.
    """
    checked = check_seed(seed, name)
    if checked is None:
        import numpy as np

        checked = int(np.random.default_rng().integers(2**31))
    return checked


def check_batch_size(batch_size: Any) -> int | str:
    """Check ``batch_size``: ``"auto"`` or a positive integer (rows per model call)."""
    if isinstance(batch_size, str):
        if batch_size != "auto":
            raise ValueError(
                f"`batch_size` must be 'auto' or a positive integer; got {batch_size!r}."
            )
        return batch_size
    return check_int(batch_size, "batch_size", minimum=1)


def check_no_extra_params(method: str, params: dict[str, Any], accepted: Iterable[str]) -> None:
    """Fail with the accepted names when a method receives a parameter it does not know."""
    accepted = sorted(accepted)
    for key in params:
        if key not in accepted:
            listed = ", ".join(accepted) if accepted else "none"
            raise TypeError(
                f"Method {method!r} got an unexpected parameter {key!r}.{suggestion(key, accepted)}"
                f" Its parameters are: {listed}."
            )


def in_flags_of(message: str, flags: Mapping[str, str]) -> str:
    """Say a message in command-line terms: ``layout='nlc'`` -> ``--layout nlc``.

    ``flags`` maps the Python parameter names a message may use to the command's flags.
    """
    for name, flag in flags.items():

        def as_flag(match: re.Match[str], flag: str = flag) -> str:
            return f"{flag} {match[2] or match[3]}"

        message = re.sub(rf"\b{name}=('([^']*)'|(\w+))", as_flag, message)
        message = message.replace(f"`{name}`", flag)
    return message


def parse_target_flag(text: str | None) -> Any:
    """``--target``: None, one class index, or one per case, comma-separated."""
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(
            f"--target {text!r} is not a class index: pass an integer (--target 1) or one "
            "integer per case, comma-separated (--target 0,2,1)."
        ) from None
    return values[0] if len(values) == 1 else values
