"""Resume and workers: which trials were cut off by a kill, running them again, and who runs what.

Every trial records the process running it (host:pid). On --resume, a running trial whose
process is gone was cut off: it is marked interrupted, failed, and its recipe queued again;
budgets and counts leave interrupted trials out. A database storage's heartbeat does the same
for a worker on another host that stops beating. A search whose budget ends with recipes still
queued, and no other worker left to run them, fails them as not run (drop_unrun); a resume queues
them again. Only Optuna's public API is used.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from .attributes import INTERRUPTED, KEPT_ON_RERUN, NOT_RUN, RERUN_OF, WORKER

log = logging.getLogger("autorecipe")

UNNAMED_SECONDS = 10.0  # a worker names a trial it takes within this time (Trainer.__call__ does it first)


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
    database storage, Optuna's heartbeat fails it when that host stops). A trial not yet named by its
    worker was cut off only once it is UNNAMED_SECONDS old: younger, a worker has just taken it.
    """
    worker = str(trial.user_attrs.get(WORKER, ""))
    if not worker:
        started = trial.datetime_start
        return started is None or (datetime.now() - started).total_seconds() > UNNAMED_SECONDS
    return ended_here(worker)


def ended_here(worker: str) -> bool:
    """Whether `worker` (host:pid) is a process of this host that is gone, or this process itself: no other
    process is doing its work."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not process_alive(int(pid)) or int(pid) == os.getpid()


def claim_once(path: Path) -> bool:
    """Whether this worker does a job that a shared search does once (retrain the chosen recipe): the first to
    create `path`, which names it, or the next after a claimant on this host whose process is gone."""
    try:
        with open(path, "x") as f:
            f.write(worker_id())
        return True
    except FileExistsError:
        pass
    if ended_here(claimant(path)):
        path.write_text(worker_id())  # a claimant that died (or an earlier run of this search) hands it on
        return claimant(path) == worker_id()
    return False


def claimant(path: Path) -> str:
    """The worker (host:pid) named in a claim file ("" when unreadable)."""
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def queue_again(study: optuna.Study, trial: FrozenTrial | optuna.Trial) -> None:
    """Queue a cut-off trial's recipe to run again (keeping its warm-start and local-step marks, and, for a rerun
    cut off too, the number of the first trial cut off with this recipe)."""
    kept = {k: v for k, v in trial.user_attrs.items() if k in KEPT_ON_RERUN}
    study.enqueue_trial(trial.params, user_attrs={**kept, RERUN_OF: trial.user_attrs.get(RERUN_OF, trial.number)})


def queue_head(study: optuna.Study) -> FrozenTrial | None:
    """The trial Optuna runs next: the first waiting one (None when none waits, or another worker took it)."""
    return min(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)), key=lambda t: t.number, default=None)


def cut_off_waiting(study: optuna.Study) -> bool:
    """Whether the recipe of a cut-off trial waits to run again (it runs in the budget its trial held)."""
    return any(RERUN_OF in t.user_attrs for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def mark_interrupted(storage: BaseStorage, study: optuna.Study, number: int) -> None:
    """Mark trial `number` as cut off, so that it counts neither as failed nor against the budget: on the trial
    while it runs; on the study once it has ended (a trial the heartbeat failed can no longer be changed)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    try:
        storage.set_trial_user_attr(storage.get_trial_id_from_study_id_trial_number(study_id, number), INTERRUPTED,
                                    True)
    except optuna.exceptions.UpdateFinishedTrialError:
        study.set_user_attr(f"{INTERRUPTED}:{number}", True)


def cut_off_numbers(study: optuna.Study) -> frozenset[int]:
    """The trials marked cut off on the study (those failed by the heartbeat), by number."""
    prefix = f"{INTERRUPTED}:"
    return frozenset(int(key[len(prefix):]) for key in study.user_attrs if key.startswith(prefix))


def fail_dead_workers(study: optuna.Study, storage: BaseStorage) -> None:
    """While other workers run: fail the trials of a dead one and queue their recipes again. With a database
    storage, those whose worker's heartbeat stopped (Optuna fails them; RunAgain queues them); with a journal,
    those whose process on this host is gone."""
    if isinstance(storage, optuna.storages.RDBStorage):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    else:
        requeue_cut_off(study, storage)


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


def drop_unrun(study: optuna.Study, storage: BaseStorage, out_of_time: bool) -> list[int]:
    """Fail, marked not run, the queued trials this search leaves when its budget ends, unless another live
    worker is still running trials (it takes them); returns their numbers. A cut-off trial's recipe stays
    queued unless the time budget is `out_of_time`: the worker that queued it (a heartbeat it checked, between
    two trials) runs it next, or else a resume does."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if any(not is_cut_off(t) for t in running):  # live, or just taken
        return []
    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            if (out_of_time or RERUN_OF not in t.user_attrs) and drop_waiting(study, storage, t.number)]


def drop_waiting(study: optuna.Study, storage: BaseStorage, number: int) -> bool:
    """Fail queued trial `number`, marked not run (a resume queues it again); claimed the way Optuna claims a
    queued trial, so that one another worker has just taken is left to it. Returns whether it was dropped."""
    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    if not storage.set_trial_state_values(trial_id, TrialState.RUNNING):
        return False
    storage.set_trial_user_attr(trial_id, NOT_RUN, True)
    storage.set_trial_state_values(trial_id, TrialState.FAIL)
    return True


def is_not_run(trial: FrozenTrial) -> bool:
    """Whether a trial was queued but never started: the search's budget ended first (drop_unrun)."""
    return bool(trial.user_attrs.get(NOT_RUN))


def is_interrupted(trial: FrozenTrial, marked: frozenset[int] = frozenset()) -> bool:
    """Whether a trial was cut off (by Ctrl-C or a kill) and run again: not a failure of its recipe. `marked`:
    the study's marks (cut_off_numbers), for a trial the heartbeat failed."""
    return bool(trial.user_attrs.get(INTERRUPTED)) or trial.number in marked


def fresh_seed(seed: int, study: optuna.Study) -> int:
    """A sampler seed drawn from the search's seed, the trials so far and this process: a resumed or
    second worker must not redraw the first one's trials."""
    return int(np.random.SeedSequence([seed, len(study.trials), os.getpid()]).generate_state(1)[0])
