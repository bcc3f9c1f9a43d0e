"""A search's trials, one at a time, in every worker sharing its study: the searching trials until the budget,
less what is held back, is spent; then the confirmation reruns of the never-worse rule (adoption.py). A worker
that has spent the budget waits, for a bounded time, on the trials other workers run, so that the recipe of one
whose worker died is run again (resume.py) before the study ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from ..recipe import Recipe
from .adoption import (CONFIRM_SEEDS, baseline_trial, confirmation_fits, held_back, queue_confirmations, rerun_next,
                       reruns_elsewhere, waiting_reruns)
from .attributes import WORKER
from .budgets import BudgetClock
from .local import propose
from .objective import Trainer, TrialFailed
from .resume import cut_off_waiting, drop_waiting, fail_dead_workers, queue_head
from .results import best_trial, trial_seconds
from .storage import heartbeat_seconds
from .warm_start import queue_next

log = logging.getLogger("autorecipe")

POLL_SECONDS = 2.0  # how often a worker looks whether another one has finished its confirmation rerun
WAIT_TRIALS = 3  # ... and for how long at most: this many reruns' time, and the storage's grace period


def run_trials(study: optuna.Study, storage: BaseStorage, trainer: Trainer, clock: BudgetClock, live,
              local_seed: int | None, same: Callable[[Recipe], Recipe], retrain: bool) -> str:
    """Run trials one at a time (with a `local_seed`, every other one a local step drawn with it, never one
    that trains what another trial trained: `same`, see what_trains) until the budget, less what the
    confirmation reruns and the retrain hold, is spent (and a dead worker's trial, run again: _wait_for_others);
    then the confirmation reruns. Returns completed or interrupted."""
    if live:
        live.start(study)
    try:
        waited = time.monotonic()
        while True:
            while _keep_going(study, trainer, clock, confirming=False, retrain=retrain):
                if (not queue_next(study) and local_seed is not None
                        and propose(study, trainer.space, trainer.base, local_seed, same)):
                    log.info("trial %d: a local step from the best recipe so far", len(study.trials) - 1)
                _run_trial(study, trainer, live)
                waited = time.monotonic()
            if cut_off_waiting(study) and not clock.out_of_time():
                _run_trial(study, trainer, live)  # a cut-off trial's recipe, in the budget its trial held
                waited = time.monotonic()
                continue
            if not _wait_for_others(study, storage, trainer, clock, time.monotonic() - waited):
                break
        if (confirmation_fits(clock.budget, *_trial_cost(study, trainer), trainer.rerun_cost)
                and queue_confirmations(study, trainer.seed)):
            log.info("confirming: the best recipe and the base recipe trained again with %d more seeds%s",
                     CONFIRM_SEEDS,
                     ", cross-fitted over the training and validation images" if trainer.cross_fit else "")
        waited = time.monotonic()
        while True:
            while _rerun_fits(study, storage, trainer, clock, retrain):
                _run_trial(study, trainer, live)
            if not _wait_for_reruns(study, storage, trainer, clock, time.monotonic() - waited):
                break
    except KeyboardInterrupt:
        log.warning("search interrupted; resume it with --resume")
        return "interrupted"
    finally:
        if live:
            live.stop()
    return "completed"


def _run_trial(study: optuna.Study, trainer: Trainer, live) -> None:
    """One trial. A trial another worker has failed meanwhile, its heartbeat having missed the grace period (a
    machine too loaded to beat), is given up here: its recipe is queued again and runs on."""
    try:
        study.optimize(trainer, n_trials=1, catch=(TrialFailed,), callbacks=[live.refresh] if live else None)
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as error:
        if isinstance(error, ValueError) and not str(error).startswith("Cannot tell a "):  # Optuna's tell, at the end
            raise
        log.warning("a trial was failed by another worker while this one ran it (%s); its recipe runs again", error)


def _wait_for_others(study: optuna.Study, storage: BaseStorage, trainer: Trainer, clock: BudgetClock,
                     waited: float) -> bool:
    """With the budget spent, whether to go round again: while trials run in other workers, one whose worker
    died (its heartbeat stopped, with a database storage; its process gone, on this host, with a journal) is
    failed and its recipe queued again, for this worker to run. Waits a pause of POLL_SECONDS, and at most
    WAIT_TRIALS trials' time and the grace period, so that no recipe is left running in a dead worker."""
    fail_dead_workers(study, storage)
    if cut_off_waiting(study):
        return not clock.out_of_time()
    if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return not clock.exhausted()
    elsewhere = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not elsewhere or clock.out_of_time():
        return False
    _, seconds = _trial_cost(study, trainer)
    return _wait_on(elsewhere, waited, WAIT_TRIALS * (seconds or 0), "ending with trial(s) %s still running on %s")


def _rerun_fits(study: optuna.Study, storage: BaseStorage, trainer: Trainer, clock: BudgetClock,
               retrain: bool) -> bool:
    """Whether a rerun waits and runs next: a confirmation rerun, or the recipe of a trial a kill cut off, queued
    again (it runs in the budget its trial held). Another recipe queued ahead of them, which the budget no longer
    holds, is marked not run, so that the reruns behind it still run."""
    while waiting_reruns(study) or cut_off_waiting(study):
        if _keep_going(study, trainer, clock, confirming=True, retrain=retrain):
            return True
        if rerun_next(study) or clock.out_of_time():
            return False
        head = queue_head(study)
        if head is not None and drop_waiting(study, storage, head.number):
            log.info("the budget cannot hold queued trial %d: marked not run (--resume with a larger budget "
                     "runs it)", head.number)
    return False


def _wait_for_reruns(study: optuna.Study, storage: BaseStorage, trainer: Trainer, clock: BudgetClock,
                     waited: float) -> bool:
    """Whether to wait on for the confirmation reruns another worker runs (a pause of POLL_SECONDS), so that
    every worker judges with them: not once the time budget is spent, nor past WAIT_TRIALS reruns' time
    (a worker on another host that died is not seen, on a journal storage). A dead worker's trial is failed
    and its recipe queued again (fail_dead_workers), for this worker to run."""
    fail_dead_workers(study, storage)
    if clock.out_of_time():
        return False
    if waiting_reruns(study) or cut_off_waiting(study):  # one to run here (queued again): go round
        return True
    running = reruns_elsewhere(study)
    if not running:
        return False
    _, seconds = _trial_cost(study, trainer)
    return _wait_on(running, waited, WAIT_TRIALS * trainer.rerun_cost.seconds * (seconds or 0),
                    "judging without the confirmation rerun(s) %s, still running on %s")


def _wait_on(running: list, waited: float, seconds: float, giving_up: str) -> bool:
    """Pause POLL_SECONDS for the trials other workers are `running`, unless `waited` is past `seconds` and the
    storage's grace period: then log `giving_up` (with their numbers and workers) and wait no more."""
    if waited > seconds + heartbeat_seconds()[1]:
        log.warning(giving_up, ", ".join(str(t.number) for t in running),
                    ", ".join(sorted({str(t.user_attrs.get(WORKER, "another worker")) for t in running})))
        return False
    time.sleep(POLL_SECONDS)
    return True


def _keep_going(study: optuna.Study, trainer: Trainer, clock: BudgetClock, confirming: bool, retrain: bool) -> bool:
    """Whether another trial fits the budget, less what is held back for what comes after it while searching
    (the confirmation reruns; the retrain's time with a time budget). A queued confirmation rerun, or a recipe
    a kill cut off, runs under a trials or epochs limit (the search held them back for it, or its trial held
    the room, and a kill mid-rerun must not leave it without room); a time limit still ends it, but not the
    retrain's share (see held_back)."""
    clock.hold(held_back(clock.budget, *_trial_cost(study, trainer), confirming=confirming, retrain=retrain,
                         cost=trainer.rerun_cost))
    return not clock.out_of_time() if confirming and rerun_next(study) else not clock.exhausted()


def _trial_cost(study: optuna.Study, trainer: Trainer) -> tuple[int, float | None]:
    """A full trial's epochs, and its seconds: the slower of the base trial and the best trial so far."""
    seconds = [trial_seconds(t) for t in (baseline_trial(study), best_trial(study)) if t is not None]
    seconds = [s for s in seconds if s]
    return trainer.max_epochs * (trainer.folds or 1), max(seconds) if seconds else None
