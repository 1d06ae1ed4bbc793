"""Progress reporting for long computations (tqdm), silent unless work takes a while."""

from __future__ import annotations

from typing import Any


class Progress:
    """A progress bar that methods advance by rows of model work.

    Parameters
    ----------
    enabled : bool or None
        None shows a bar only once the work has run for 2 seconds; True shows it at once; False
        never shows it.
    description : str
        Text in front of the bar.
    unit : str, default="row"
        What one step of work is (model rows for methods, epochs for training).
    """

    def __init__(
        self, enabled: bool | None = None, description: str = "", unit: str = "row"
    ) -> None:
        self.enabled = enabled
        self.description = description
        self.unit = unit
        self._bar: Any = None

    def start(self, total: int) -> None:
        """Begin (or restart) a bar over ``total`` units of work."""
        if self.enabled is False:
            return
        self.close()
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total,
            desc=self.description,
            unit=self.unit,
            delay=0 if self.enabled else 2.0,
            leave=False,
            dynamic_ncols=True,
        )

    def advance(self, amount: int) -> None:
        """Record ``amount`` more units of work done."""
        if self._bar is not None:
            self._bar.update(amount)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


SILENT = Progress(enabled=False)
