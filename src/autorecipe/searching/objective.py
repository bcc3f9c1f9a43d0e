"""One trial of a search: sample a recipe, train it through `train()`, report epochs (or folds) to Optuna.

A trial's score is its best validation accuracy. Holdout mode reports every epoch to the
pruner (Hyperband over epochs); cross-validation mode trains one model per fold and reports
each fold's score as a step (for the Wilcoxon pruner). A diverged trial fails and the search
goes on; a trial cut off by the budget is recorded as pruned.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna
import torch
from sklearn.model_selection import StratifiedKFold

from ..data.dataset import ImageData
from ..errors import AutorecipeError
from ..progress import NullReporter
from ..recipe import Recipe
from ..train import StopTraining, TrainResult, train
from .budgets import BudgetClock
from .local import LOCAL, keeps_up
from .results import best_trial
from .space import OUTSIDE, RESOURCE_KNOB, SearchSpace

log = logging.getLogger("autorecipe")


WORKER = "worker"  # trial user attribute: host:pid of the process running it


def worker_id() -> str:
    """This process, as host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_cut_off(trial) -> bool:
    """Whether a running trial's process is gone (killed), rather than another worker still running it.

    Only a process on this host can be checked; a trial another host runs counts as alive (with a
    database storage, Optuna's heartbeat fails it when that host stops).
    """
    host, _, pid = str(trial.user_attrs.get(WORKER, "")).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return not host
    return not process_alive(int(pid)) or int(pid) == os.getpid()


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


class TrialFailed(Exception):
    """A trial that could not produce a score (diverged, or its recipe could not train)."""


@dataclass
class Trainer:
    """What every trial shares: the space, the base recipe, the data, the device and the budget."""

    space: SearchSpace
    base: Recipe
    data: Callable[[Recipe], tuple[ImageData, ImageData | None]]  # (train, val) at the recipe's image size
    device: torch.device
    clock: BudgetClock
    max_epochs: int
    seed: int = 0
    folds: int | None = None
    on_epoch: Callable[[optuna.Trial, dict], None] | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr("epochs_run", 0)
        trial.set_user_attr(WORKER, worker_id())
        try:
            recipe = self.space.sample(trial, self.base).with_values({RESOURCE_KNOB: self.max_epochs})
            train_data, val_data = self.data(recipe)
            if self.folds:
                return self._cross_validate(trial, recipe, train_data)
            return self._holdout(trial, recipe, train_data, val_data)
        except (AutorecipeError, RuntimeError, ValueError) as error:  # the recipe cannot train; go on
            trial.set_user_attr("error", str(error).splitlines()[0][:300] if str(error) else type(error).__name__)
            log.warning("trial %d failed: %s", trial.number, error)
            raise TrialFailed(str(error)) from error

    def _holdout(self, trial: optuna.Trial, recipe: Recipe, train_data: ImageData, val_data: ImageData) -> float:
        reporter = _TrialReporter(self, trial, report_epochs=True, val_images=len(val_data))
        result = self._train(trial, recipe, train_data, val_data, reporter)
        if reporter.pruned:
            raise optuna.TrialPruned()
        return _best(result)

    def _cross_validate(self, trial: optuna.Trial, recipe: Recipe, data: ImageData) -> float:
        scores = []
        splitter = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
        for fold, (train_index, val_index) in enumerate(splitter.split(np.zeros(len(data)), data.y)):
            reporter = _TrialReporter(self, trial, report_epochs=False)
            result = self._train(trial, recipe, data.subset(train_index), data.subset(val_index), reporter)
            scores.append(_best(result))
            trial.report(scores[-1], fold)
            trial.set_user_attr("fold_scores", scores)
            if reporter.pruned or (fold + 1 < self.folds and trial.should_prune()):
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    def _train(self, trial, recipe, train_data, val_data, reporter) -> TrainResult:
        result = train(recipe, train_data, val_data, device=self.device, seed=self.seed, reporter=reporter)
        trial.set_user_attr("status", result.status)
        if result.status == "interrupted":  # Ctrl-C: run this recipe again on --resume
            trial.set_user_attr("interrupted", True)
            queue_again(trial.study, trial)
            raise KeyboardInterrupt
        if result.status == "diverged":
            trial.set_user_attr("error", "diverged: the loss became non-finite")
            raise TrialFailed("diverged")
        if result.best_epoch is None:
            raise TrialFailed("no epoch finished")
        return result


class _TrialReporter(NullReporter):
    """Counts epochs, reports them to the pruner, and stops training when pruned or out of budget."""

    def __init__(self, trainer: Trainer, trial: optuna.Trial, report_epochs: bool, val_images: int = 0):
        self.trainer, self.trial, self.report_epochs = trainer, trial, report_epochs
        self.val_images, self.pruned = val_images, False
        incumbent = best_trial(trial.study) if trial.user_attrs.get(LOCAL) else None
        self.incumbent = dict(incumbent.intermediate_values) if incumbent is not None else None

    def should_stop(self, record: dict) -> bool:
        """Pruned: a local step that fell behind the incumbent's curve; any other trial, by the pruner."""
        if self.incumbent is not None:
            return not keeps_up(record.get("val_accuracy", 0.0), self.incumbent, record["epoch"], self.val_images)
        return self.trial.should_prune()

    def epoch(self, record: dict) -> None:
        trial = self.trial
        trial.set_user_attr("epochs_run", int(trial.user_attrs.get("epochs_run", 0)) + 1)
        if self.report_epochs:
            trial.report(record.get("val_accuracy", 0.0), record["epoch"])
        if self.trainer.on_epoch:
            self.trainer.on_epoch(trial, record)
        last = record["epoch"] >= self.trainer.max_epochs  # a finished trial is scored, not pruned
        if self.report_epochs and not last and self.should_stop(record):
            self.pruned = True
            raise StopTraining
        clock = self.trainer.clock
        if not last and (clock.out_of_time() or clock.out_of_epochs()):
            trial.set_user_attr("cut_by_budget", True)
            self.pruned = True
            raise StopTraining


def queue_again(study: optuna.Study, trial) -> None:
    """Queue a cut-off trial's recipe to run again (keeping its warm-start mark)."""
    study.enqueue_trial(trial.params, user_attrs={k: v for k, v in trial.user_attrs.items()
                                                  if k in ("warm_start", LOCAL, OUTSIDE)})


def _best(result: TrainResult) -> float:
    return float(result.history[result.best_epoch - 1].get("val_accuracy", 0.0))
