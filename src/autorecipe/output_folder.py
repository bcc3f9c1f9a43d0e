"""The output folder of a fit or a search: named, created up front, its log held until the data has loaded."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from datetime import datetime
from pathlib import Path

log = logging.getLogger("autorecipe")


def default_folder(verb: str) -> Path:
    """A new folder under runs/ named after the verb and the time, e.g. runs/fit-20261130-221500."""
    base = Path("runs") / datetime.now().strftime(f"{verb}-%Y%m%d-%H%M%S")
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def make_folder(out: Path) -> Path | None:
    """Create `out` and its missing parents; returns the topmost folder created (None if `out` existed)."""
    missing = [p for p in (out, *out.parents) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    return missing[-1] if missing else None


def hold_log() -> logging.handlers.MemoryHandler:
    """Keep log records in memory until the data has loaded, so a data error writes no log file."""
    held = logging.handlers.MemoryHandler(capacity=sys.maxsize, flushLevel=logging.CRITICAL + 1)
    log.addHandler(held)
    log.setLevel(logging.INFO)
    return held


def log_to(path: Path, held: logging.handlers.MemoryHandler, mode: str = "w") -> logging.Handler:
    """Log to `path` (mode "a" appends), starting with the records `held` so far (which then stops holding)."""
    handler = logging.FileHandler(path, mode=mode)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    held.setTarget(handler)
    held.flush()
    log.removeHandler(held)
    log.addHandler(handler)
    return handler


def close_logs(*handlers: logging.Handler | None) -> None:
    """Detach and close the handlers that were opened (None ones are skipped)."""
    for handler in handlers:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()
