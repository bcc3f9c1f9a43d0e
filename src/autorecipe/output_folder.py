"""The output folder of a verb (fit, search): named, created up front, its log held until the data has
loaded, and removed again when the verb fails before it has written anything of worth."""

from __future__ import annotations

import logging
import logging.handlers
import shutil
import sys
from datetime import datetime
from pathlib import Path

from .errors import AutorecipeError
from .terminal import visible

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


# A folder with one of these holds a run: a trained model, a fit's record of its end, or training to resume. A fit
# that failed before training (a user error, a kill) leaves only run.log and fit.json, which the next fit rewrites.
RUN_MARKERS = ("model.safetensors", "metrics.json", "checkpoint.pt")


def holds_run(folder: Path) -> bool:
    """Whether `folder` holds a fit's run (a model, a finished fit's record, or a checkpoint)."""
    return any((folder / name).exists() for name in RUN_MARKERS)


# What each verb's folder is known by: the files it writes first (a fit's also those of runs before fit.json).
FOLDER_KINDS = {"fit": ("fit.json", *RUN_MARKERS), "search": ("search.json",), "ablation or comparison": ("plan.json",),
                "diagnosis": ("diagnose.json",)}


def check_kind(folder: Path, kind: str) -> None:
    """A verb of `kind` (a key of FOLDER_KINDS) writes into no folder that holds another verb's results: the files
    of two verbs would mix, and report and resume would read the wrong ones."""
    for other, markers in FOLDER_KINDS.items():
        found = next((name for name in markers if (folder / name).exists()), None)
        if other != kind and found:
            raise AutorecipeError(f"--out {folder} holds a{'n' if other[0] in 'aeiou' else ''} {other} ({found}); "
                                  f"give another --out")


def check_free(folder: Path, overwrite: bool) -> None:
    """A new fit may write to a folder that does not exist, is empty or holds no run (nor another verb's results,
    see check_kind); one that holds any needs `overwrite`."""
    if overwrite:
        return
    check_kind(folder, "fit")
    if holds_run(folder):
        resumable = (folder / "checkpoint.pt").exists()  # removed when a fit ends
        way_on = f", continue that run with `autorecipe fit --resume {folder}`," if resumable else ""
        raise AutorecipeError(f"--out {folder} holds a run already; choose another folder{way_on} or replace it with "
                              f"--overwrite")


def empty(folder: Path) -> None:
    """Remove everything in `folder` (an earlier run that --overwrite replaces: none of its files may stay beside
    the new run's)."""
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def hold_log() -> logging.handlers.MemoryHandler:
    """Keep log records in memory until the data has loaded, so a data error writes no log file."""
    held = logging.handlers.MemoryHandler(capacity=sys.maxsize, flushLevel=logging.CRITICAL + 1)
    log.addHandler(held)
    log.setLevel(logging.INFO)
    return held


def log_to(path: Path, held: logging.handlers.MemoryHandler, mode: str = "w") -> logging.Handler:
    """Log to `path` (mode "a" appends), starting with the records `held` so far (which then stops holding)."""
    handler = logging.FileHandler(path, mode=mode)
    handler.setFormatter(VisibleFormatter("%(asctime)s %(levelname)s %(message)s"))
    held.setTarget(handler)
    held.flush()
    log.removeHandler(held)
    log.addHandler(handler)
    return handler


class VisibleFormatter(logging.Formatter):
    """Log lines whose control characters are written as escapes: a class or file name holding a terminal escape
    sequence cannot act on the terminal of whoever reads the log with cat or tail."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


def close_logs(*handlers: logging.Handler | None) -> None:
    """Detach and close the handlers that were opened (None ones are skipped)."""
    for handler in handlers:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


class OutputFolder:
    """`with OutputFolder(out, "run.log") as folder:` creates `out` and holds the log in memory until
    `folder.open_log()` (call it once the data has loaded). On failure, a folder this verb created is
    removed if its log was not opened yet, or with `remove_on_user_error` on any AutorecipeError."""

    def __init__(self, path: Path, log_name: str, *, append: bool = False, remove_on_user_error: bool = False):
        self.path, self.log_name, self.append = path, log_name, append
        self.remove_on_user_error = remove_on_user_error
        self.created: Path | None = None
        self.held: logging.handlers.MemoryHandler | None = None
        self.handler: logging.Handler | None = None

    def __enter__(self) -> OutputFolder:
        self.created = make_folder(self.path)
        self.held = hold_log()
        return self

    def keep(self) -> None:
        """From now on keep the folder whatever ends the verb (it may hold work worth keeping)."""
        self.remove_on_user_error = False
        self.created = None

    def open_log(self) -> None:
        """Write the log to its file from now on, starting with what was held."""
        self.handler = log_to(self.path / self.log_name, self.held, mode="a" if self.append else "w")

    def __exit__(self, kind, error, traceback) -> None:
        user_error = self.remove_on_user_error and isinstance(error, AutorecipeError)
        if error is not None and self.created is not None and (self.handler is None or user_error):
            shutil.rmtree(self.created, ignore_errors=True)
        close_logs(self.held, self.handler)
