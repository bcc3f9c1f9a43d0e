"""A bound on the tests of cases that once hung: the block must end within its seconds, else it fails."""

from __future__ import annotations

import signal
from contextlib import contextmanager


@contextmanager
def within(seconds: int, what: str):
    """Fail with TimeoutError(`what`) if the block runs longer than `seconds` (SIGALRM: the main thread only)."""
    def hung(*_):
        raise TimeoutError(f"{what} took over {seconds} s: it hung")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
