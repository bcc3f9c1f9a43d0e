"""The study's storage: a journal file in the search folder by default, or any Optuna storage URL."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from ..errors import AutorecipeError
from .resume import RunAgain

log = logging.getLogger("autorecipe")

JOURNAL = "study.journal"
DATABASES = ("postgresql", "mysql", "sqlite", "oracle", "mssql")  # URL schemes of Optuna's RDB storage
HEARTBEAT_S, GRACE_S = 60, 300  # seconds: a database worker's heartbeat, and the silence that ends its trial
HEARTBEAT, GRACE = "AUTORECIPE_HEARTBEAT", "AUTORECIPE_GRACE"  # the variables that set them (search --heartbeat)
LOCK_GRACE_S = 10  # a journal lock older than this was left by a killed process (a write holds it for milliseconds)


def open_storage(url: str | None, folder: Path) -> optuna.storages.BaseStorage:
    """The study's storage: a journal file in `folder` by default, else any Optuna storage URL."""
    if url is None:
        journal = str((folder / JOURNAL).resolve())  # a relative lock link would point nowhere: never released
        drop_broken_lock(journal)
        lock = JournalFileSymlinkLock(journal, grace_period=LOCK_GRACE_S)
        return JournalStorage(JournalFileBackend(journal, lock_obj=lock))
    if url.startswith("sqlite"):
        optuna.logging.get_logger("autorecipe").warning("SQLite storage is not safe for parallel workers")
    database = url.split(":", 1)[0].split("+", 1)[0] in DATABASES
    heartbeat, grace = heartbeat_seconds() if database else (None, None)
    try:
        if database:
            # a worker that stops beating for GRACE_S (a killed host) has its trial failed and run again
            run_again = RunAgain()
            run_again.storage = optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat, grace_period=grace,
                                                           heartbeat_stale_trial_callback=run_again)
            return run_again.storage
        return optuna.storages.get_storage(url)
    except (ValueError, ImportError, ModuleNotFoundError) as error:
        raise AutorecipeError(f"--storage {url}: cannot open it: {error}") from None
    except Exception as error:  # a database that refuses the connection
        raise AutorecipeError(f"--storage {url}: cannot connect: {str(error).splitlines()[0]}") from None


def heartbeat_seconds() -> tuple[int, int]:
    """A database worker's heartbeat interval and the silence after which its trial is failed and run again:
    $AUTORECIPE_HEARTBEAT and $AUTORECIPE_GRACE (`search --heartbeat --grace`), else 60 s and 300 s."""
    values = []
    for name, flag, default in ((HEARTBEAT, "--heartbeat", HEARTBEAT_S), (GRACE, "--grace", GRACE_S)):
        text = os.environ.get(name, "")
        if text and (not text.isdigit() or int(text) < 1):
            raise AutorecipeError(f"{flag} {text} (${name}): expected a whole number of seconds, at least 1")
        values.append(int(text) if text else default)
    if values[1] <= values[0]:
        raise AutorecipeError(f"--grace {values[1]}: the grace period must be longer than the heartbeat "
                              f"(--heartbeat {values[0]})")
    return values[0], values[1]


def drop_broken_lock(journal: str) -> None:
    """Remove a journal lock that is a link to nowhere: a relative link left by a killed process of an earlier
    version, which Optuna would wait on forever (its grace period reads the link's target). A lock that a live
    worker holds, or releases meanwhile, links to the journal by its absolute path and is left alone."""
    lock = journal + ".lock"
    try:
        target = os.readlink(lock)
    except OSError:  # no lock, or not a link
        return
    if os.path.isabs(target) or os.path.exists(os.path.join(os.path.dirname(lock), target)):
        return
    try:
        os.unlink(lock)
        log.warning("removed the stale journal lock %s (a killed search left it)", lock)
    except FileNotFoundError:  # another worker removed it first
        pass
