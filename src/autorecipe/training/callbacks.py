"""Callbacks: what a fit tells the outside while it runs, and how the outside asks it to stop.

The display, the search's pruning and budget checks, and a user's own hooks are callbacks
alike. `on_epoch` may return a reason to stop (training ends after that epoch with status
"stopped"), and so may `on_step` (the epoch ends at that step, is scored, and training stops);
raising KeyboardInterrupt from any hook ends it as "interrupted".
"""

from __future__ import annotations

from collections.abc import Iterable


class Callback:
    """Hooks into a fit; override the ones you need (every hook does nothing by default)."""

    def on_decode(self, done: int, total: int) -> None:
        """Images decoded so far, while the data loads."""

    def on_start(self, epochs: int, steps_per_epoch: int, summary: dict) -> None:
        """Training begins; `summary` says what trains: model, parameters, device, precision, images,
        validation images, batch, lr (the knob's value, for a batch of 512), peak_lr (at this batch) and
        steps_done (more than 0 when resumed from a checkpoint)."""

    def on_step(self) -> str | None:
        """A batch was trained on; return a reason to stop training at this step, or None."""
        return None

    def on_epoch(self, record: dict) -> str | None:
        """An epoch ended (`record`: its row of history.csv); return a reason to stop training now, or None."""
        return None

    def on_end(self) -> None:
        """Training ended, however it ended."""


class Callbacks(Callback):
    """Several callbacks called in order; `on_step` and `on_epoch` ask every one and return the first reason
    to stop."""

    def __init__(self, callbacks: Iterable[Callback | None] = ()):
        self.callbacks = [c for c in callbacks if c is not None]

    def on_decode(self, done: int, total: int) -> None:
        for callback in self.callbacks:
            callback.on_decode(done, total)

    def on_start(self, epochs: int, steps_per_epoch: int, summary: dict) -> None:
        for callback in self.callbacks:
            callback.on_start(epochs, steps_per_epoch, summary)

    def on_step(self) -> str | None:
        reasons = [callback.on_step() for callback in self.callbacks]
        return next((reason for reason in reasons if reason), None)

    def on_epoch(self, record: dict) -> str | None:
        reasons = [callback.on_epoch(record) for callback in self.callbacks]
        return next((reason for reason in reasons if reason), None)

    def on_end(self) -> None:
        for callback in self.callbacks:
            callback.on_end()
