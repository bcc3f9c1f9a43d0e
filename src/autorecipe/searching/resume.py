"""Resume and workers: which trials were cut off by a kill, running them again, and who runs what.

Every trial records the process running it (host:pid). On --resume, a running trial whose
process is gone was cut off: it is marked interrupted, failed, and its recipe queued again;
budgets and counts leave interrupted trials out. A database storage's heartbeat does the same
for a worker on another host that stops beating. Only Optuna's public API is used.
"""

from __future__ import annotations

import logging
import os
import socket

import numpy as np
import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from .attributes import INTERRUPTED, KEPT_ON_RERUN, WORKER

log = logging.getLogger("autorecipe")


def worker_id() -> str:
    """This process, as host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(pid: int) -> bool:
    """Whether a process of this host with this id is running (another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def is_cut_off(trial: FrozenTrial) -> bool:
    """Whether a running trial's process is gone (killed), rather than another worker still running it.

    Only a process on this host can be checked; a trial another host runs counts as alive (with a
    database storage, Optuna's heartbeat fails it when that host stops).
    """
    host, _, pid = str(trial.user_attrs.get(WORKER, "")).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return not host
    return not process_alive(int(pid)) or int(pid) == os.getpid()


def queue_again(study: optuna.Study, trial: FrozenTrial | optuna.Trial) -> None:
    """Queue a cut-off trial's recipe to run again (keeping its warm-start and local-step marks)."""
    study.enqueue_trial(trial.params, user_attrs={k: v for k, v in trial.user_attrs.items() if k in KEPT_ON_RERUN})


def mark_interrupted(storage: BaseStorage, study: optuna.Study, number: int) -> None:
    """Mark trial `number` as cut off, so that it counts neither as failed nor against the budget."""
    study_id = storage.get_study_id_from_name(study.study_name)
    storage.set_trial_user_attr(storage.get_trial_id_from_study_id_trial_number(study_id, number), INTERRUPTED, True)


def requeue_cut_off(study: optuna.Study, storage: BaseStorage) -> None:
    """Fail every running trial whose process is gone, and queue its recipe again."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if is_cut_off(trial):  # else another worker runs it
            mark_interrupted(storage, study, trial.number)
            study.tell(trial.number, state=TrialState.FAIL)
            queue_again(study, trial)
            log.info("trial %d was cut off by a kill; queued again", trial.number)


class RunAgain:
    """A database storage's callback for a trial whose worker's heartbeat stopped (Optuna failed it):
    mark it interrupted and run its recipe again. `storage` is set once the storage exists."""

    storage: BaseStorage | None = None

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        mark_interrupted(self.storage, study, trial.number)
        queue_again(study, trial)


def is_interrupted(trial: FrozenTrial) -> bool:
    """Whether a trial was cut off (by Ctrl-C or a kill) and run again: not a failure of its recipe."""
    return bool(trial.user_attrs.get(INTERRUPTED))


def fresh_seed(seed: int, study: optuna.Study) -> int:
    """A sampler seed drawn from the search's seed, the trials so far and this process: a resumed or
    second worker must not redraw the first one's trials."""
    return int(np.random.SeedSequence([seed, len(study.trials), os.getpid()]).generate_state(1)[0])
