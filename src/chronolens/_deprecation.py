"""Old spellings of public names keep working for one release, with a DeprecationWarning."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

_F = TypeVar("_F", bound=Callable[..., Any])


def renamed_keyword(old: str, new: str) -> Callable[[_F], _F]:
    """Accept the keyword ``old`` as ``new``, with a DeprecationWarning (for one release)."""

    def decorate(function: _F) -> _F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(
                        f"{function.__name__}() got both `{new}` and its deprecated spelling "
                        f"`{old}`; pass only `{new}`."
                    )
                warnings.warn(
                    f"{function.__name__}({old}=...) is deprecated and will be removed in the "
                    f"next release; use {new}=... instead.",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return cast(_F, wrapper)

    return decorate
