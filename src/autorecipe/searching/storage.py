"""The study's storage: a journal file in the search folder by default, or any Optuna storage URL."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from ..errors import AutorecipeError
from .resume import RunAgain

JOURNAL = "study.journal"
DATABASES = ("postgresql", "mysql", "sqlite", "oracle", "mssql")  # URL schemes of Optuna's RDB storage
HEARTBEAT_S, GRACE_S = 60, 300  # seconds: a database worker's heartbeat, and the silence that ends its trial


def open_storage(url: str | None, folder: Path) -> optuna.storages.BaseStorage:
    """The study's storage: a journal file in `folder` by default, else any Optuna storage URL."""
    if url is None:
        return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    if url.startswith("sqlite"):
        optuna.logging.get_logger("autorecipe").warning("SQLite storage is not safe for parallel workers")
    try:
        if url.split(":", 1)[0].split("+", 1)[0] in DATABASES:
            # a worker that stops beating for GRACE_S (a killed host) has its trial failed and run again
            run_again = RunAgain()
            run_again.storage = optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                                           heartbeat_stale_trial_callback=run_again)
            return run_again.storage
        return optuna.storages.get_storage(url)
    except (ValueError, ImportError, ModuleNotFoundError) as error:
        raise AutorecipeError(f"--storage {url}: cannot open it: {error}") from None
    except Exception as error:  # a database that refuses the connection
        raise AutorecipeError(f"--storage {url}: cannot connect: {str(error).splitlines()[0]}") from None
