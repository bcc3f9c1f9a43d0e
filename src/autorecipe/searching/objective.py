"""One trial of a search: sample a recipe, train it through `train()`, report epochs (or folds) to Optuna.

A trial's score is its best validation accuracy; its per-image correctness there is kept for
the never-worse rule (adoption.py). Holdout mode reports every epoch to the pruner (see
pruning.py); cross-validation mode trains one model per fold and reports each fold's score as
a step. A diverged trial fails and the search goes on; a trial cut off by the budget is
recorded as pruned, and so is one far slower an epoch than the base recipe (SLOWER, SLOWER_BY), with why.
With unlabeled images, a recipe whose semi_supervised is not none trains through the semi-supervised
step. A confirmation rerun trains its recipe with the seed it was queued with; when the search split its
validation images off the data itself, it is cross-fitted over all labelled images
(adoption.confirmation_folds), each fold's epochs charged by its share of a trial's training images.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna
import torch
from sklearn.model_selection import StratifiedKFold

from ..data.dataset import ImageData
from ..errors import AutorecipeError
from ..optimization.schedule import batch_size
from ..recipe import Recipe
from ..semi.train import train_with_unlabeled
from ..training.callbacks import Callback
from ..training.loop import TrainResult, train
from ..training.scoring import balanced_scores
from .adoption import RerunCost, baseline_trial, confirmation_folds, duplicate_rerun, pack, pack_labels
from .attributes import (BASELINE, CONFIRM_SEED, CONFIRMS, CUT_BY_BUDGET, EPOCH_SECONDS, EPOCHS_CHARGED, EPOCHS_RUN,
                         ERROR, FOLD_SCORES, INTERRUPTED, NOT_RUN, STATUS, STOPPED, VAL_CORRECT, VAL_IMAGES,
                         VAL_LABELS, WORKER)
from .budgets import BudgetClock
from .resume import queue_again, worker_id
from .space import RESOURCE_KNOB, SearchSpace

log = logging.getLogger("autorecipe")

PRUNED, OUT_OF_BUDGET = "pruned", "out of budget"  # why a trial stops early
SLOWER = 3.0  # a trial this many times slower an epoch than the base recipe is stopped ...
SLOWER_BY = 5.0  # ... and by at least this many seconds an epoch (short epochs' timings are noise)
FIRST_SLOWER = 10.0  # the first epoch may compile or warm up: it is stopped only past this many times


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
    cross_fit: bool = False  # confirmation reruns cross-fit the training and validation images (no --val, no --cv)
    rerun_cost: RerunCost = RerunCost()  # a confirmation rerun's cost in trials
    unlabeled: Callable[[Recipe], ImageData] | None = None  # the unlabeled images at a recipe's image size
    metric: str = "accuracy"  # the validation score of a trial (training.scoring.METRICS)

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER, worker_id())  # first: another worker tells a live trial by it
        trial.set_user_attr(EPOCHS_RUN, 0)
        trial.set_user_attr(EPOCHS_CHARGED, 0.0)
        if (first := duplicate_rerun(trial)) is not None:
            trial.set_user_attr(NOT_RUN, True)
            raise TrialFailed(f"the confirmation rerun trial {first} runs already (two workers queued it at once)")
        try:
            recipe = self.space.sample(trial, self.base).with_values({RESOURCE_KNOB: self.max_epochs})
            train_data, val_data = self.data(recipe)
            if self.folds:
                return self._cross_validate(trial, recipe, train_data)
            if self.cross_fit and CONFIRMS in trial.user_attrs:
                return self._cross_fit(trial, recipe, train_data, val_data)
            return self._holdout(trial, recipe, train_data, val_data)
        except (AutorecipeError, RuntimeError, ValueError) as error:  # the recipe cannot train; go on
            trial.set_user_attr(ERROR, str(error).splitlines()[0][:300] if str(error) else type(error).__name__)
            log.warning("trial %d failed: %s", trial.number, error)
            raise TrialFailed(str(error)) from error
        except KeyboardInterrupt:  # Ctrl-C (or SIGTERM) before training began: run this recipe again on --resume
            if not trial.user_attrs.get(INTERRUPTED):  # in training, _train has queued it already
                trial.set_user_attr(INTERRUPTED, True)
                queue_again(trial.study, trial)
            raise

    def _holdout(self, trial: optuna.Trial, recipe: Recipe, train_data: ImageData, val_data: ImageData) -> float:
        trial.set_user_attr(VAL_IMAGES, len(val_data))
        result = self._train(trial, recipe, train_data, val_data, TrialEpochs(self, trial, report=True))
        if result.stop_reason:
            raise optuna.TrialPruned()
        trial.set_user_attr(VAL_CORRECT, pack(result.val_correct))
        self._keep_labels(trial, val_data.y)
        return _best(result, self.metric)

    def _cross_fit(self, trial: optuna.Trial, recipe: Recipe, train_data: ImageData, val_data: ImageData) -> float:
        """A confirmation rerun over all labelled images: trained on the other folds, scored on each in turn,
        with the batch size a trial trains with (an automatic one resolves on a trial's training images, not
        on a fold's, so that a recipe that halves the batch is not the base recipe again)."""
        recipe = recipe.with_values({"batch_size": batch_size(recipe.optimization, len(train_data))})
        labelled = pooled(train_data, val_data)
        trial.set_user_attr(VAL_IMAGES, len(labelled))
        correct, confusion, labels = [], 0, []
        for train_index, val_index in confirmation_folds(labelled.y, int(trial.user_attrs[CONFIRM_SEED])):
            epochs = TrialEpochs(self, trial, report=False, weight=len(train_index) / len(train_data))
            result = self._train(trial, recipe, labelled.subset(train_index), labelled.subset(val_index), epochs)
            if result.stop_reason:
                raise optuna.TrialPruned()
            correct.append(result.val_correct)
            labels.append(labelled.y[val_index])
            confusion = confusion + result.val_confusion
        scored = np.concatenate(correct)  # every labelled image once, in fold order
        trial.set_user_attr(VAL_CORRECT, pack(scored))
        self._keep_labels(trial, np.concatenate(labels))
        return float(scored.mean()) if self.metric == "accuracy" else balanced_scores(confusion)[self.metric]

    def _cross_validate(self, trial: optuna.Trial, recipe: Recipe, data: ImageData) -> float:
        scores, correct, labels = [], [], []
        splitter = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
        for fold, (train_index, val_index) in enumerate(splitter.split(np.zeros(len(data)), data.y)):
            epochs = TrialEpochs(self, trial, report=False)
            result = self._train(trial, recipe, data.subset(train_index), data.subset(val_index), epochs)
            scores.append(_best(result, self.metric))
            correct.append(result.val_correct)
            labels.append(data.y[val_index])
            trial.report(scores[-1], fold)
            trial.set_user_attr(FOLD_SCORES, scores)
            if result.stop_reason or (fold + 1 < self.folds and trial.should_prune()):
                raise optuna.TrialPruned()
        trial.set_user_attr(VAL_CORRECT, pack(np.concatenate(correct)))  # every image once, in fold order
        self._keep_labels(trial, np.concatenate(labels))
        return float(np.mean(scores))

    def _keep_labels(self, trial: optuna.Trial, labels: np.ndarray) -> None:
        """By a balanced metric, the scored images' classes, so the paired verdict weighs them (adoption)."""
        if self.metric != "accuracy":
            trial.set_user_attr(VAL_LABELS, pack_labels(labels))

    def _train(self, trial: optuna.Trial, recipe: Recipe, train_data: ImageData, val_data: ImageData,
               epochs: TrialEpochs) -> TrainResult:
        prefix = TrialPrefix(trial.number)
        log.addFilter(prefix)  # the loop's epoch lines in search.log name their trial
        seed = int(trial.user_attrs.get(CONFIRM_SEED, self.seed))
        try:
            if self.unlabeled is not None and recipe.data.semi_supervised != "none":
                result = train_with_unlabeled(recipe, train_data, val_data, self.unlabeled(recipe),
                                              device=self.device, callbacks=[epochs], seed=seed,
                                              metric=self.metric).result
            else:
                result = train(recipe, train_data, val_data, device=self.device, callbacks=[epochs], seed=seed,
                               metric=self.metric)
        finally:
            log.removeFilter(prefix)
        trial.set_user_attr(STATUS, result.status)
        if result.status == "interrupted":  # Ctrl-C: run this recipe again on --resume
            trial.set_user_attr(INTERRUPTED, True)
            queue_again(trial.study, trial)
            raise KeyboardInterrupt
        if result.status == "diverged":
            trial.set_user_attr(ERROR, "diverged: the loss became non-finite")
            raise TrialFailed("diverged")
        if result.best_epoch is None:
            raise TrialFailed("no epoch finished")
        return result


class TrialPrefix(logging.Filter):
    """Starts every log line of a trial's training with "trial N: "."""

    def __init__(self, number: int):
        super().__init__()
        self.number = number

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = f"trial {self.number}: {record.msg}"
        return True


class TrialEpochs(Callback):
    """A trial's view of its epochs: counts and times them, reports them to the pruner (holdout), and
    stops training when the pruner says so, the budget is spent (a confirmation rerun: only the time), or
    the trial is far slower than the base recipe. A trial's last epoch is always scored."""

    def __init__(self, trainer: Trainer, trial: optuna.Trial, report: bool, weight: float = 1.0):
        self.trainer, self.trial, self.report, self.weight = trainer, trial, report, weight
        self.seconds: list[float] = []
        self.epoch_began = time.perf_counter()
        self.baseline: optuna.trial.FrozenTrial | None = None  # the base recipe's trial, looked up each epoch

    def on_start(self, epochs: int, steps_per_epoch: int, summary: dict) -> None:
        self.epoch_began, self.baseline = time.perf_counter(), baseline_trial(self.trial.study)

    def on_step(self) -> str | None:
        """Stop within an epoch that has already taken far longer than the base recipe's (a much larger image
        size or model): SLOWER times the base epoch after the first, FIRST_SLOWER times in the first."""
        factor = SLOWER if self.seconds else FIRST_SLOWER
        return self._too_slow(time.perf_counter() - self.epoch_began, factor, within=True)

    def on_epoch(self, record: dict) -> str | None:
        self.epoch_began, self.baseline = time.perf_counter(), baseline_trial(self.trial.study)
        trial, clock = self.trial, self.trainer.clock
        trial.set_user_attr(EPOCHS_RUN, int(trial.user_attrs.get(EPOCHS_RUN, 0)) + 1)
        trial.set_user_attr(EPOCHS_CHARGED, float(trial.user_attrs.get(EPOCHS_CHARGED, 0.0)) + self.weight)
        self.seconds.append(record["seconds"])
        trial.set_user_attr(EPOCH_SECONDS, float(np.mean(self.seconds)))
        if self.report:
            trial.report(record.get(f"val_{self.trainer.metric}", 0.0), record["epoch"])
        if self.trainer.on_epoch:
            self.trainer.on_epoch(trial, record)
        if record["epoch"] >= self.trainer.max_epochs:  # a finished trial is scored, not pruned
            return None
        if self.report and trial.should_prune():
            return PRUNED
        if clock.out_of_time() or (clock.out_of_epochs() and CONFIRMS not in trial.user_attrs):
            trial.set_user_attr(CUT_BY_BUDGET, True)
            return OUT_OF_BUDGET
        return self._too_slow(self.seconds[-1], SLOWER) if len(self.seconds) >= 2 else None

    def _too_slow(self, seconds: float, factor: float, within: bool = False) -> str | None:
        """Why this trial stops for its cost: an epoch (finished, or still running `within`) took more than
        `factor` times, and SLOWER_BY seconds more than, the base recipe's mean epoch on the same host."""
        trial, baseline = self.trial, self.baseline
        reference = baseline.user_attrs.get(EPOCH_SECONDS) if baseline is not None else None
        if not reference or seconds <= factor * reference or seconds - reference < SLOWER_BY:
            return None  # checked first: every step asks, and a live trial's attributes are a deep copy a read
        attrs = trial.user_attrs
        if attrs.get(BASELINE) or CONFIRMS in attrs or STOPPED in attrs or _host(baseline) != _host(trial):
            return None
        taken = f"{seconds / reference:.1f}x the base recipe's epoch (trial {baseline.number}) within one epoch" \
            if within else f"{seconds / reference:.1f}x slower an epoch than the base recipe (trial {baseline.number})"
        reason = f"{taken}; the search stops trials over {factor:g}x"
        trial.set_user_attr(STOPPED, reason)
        log.warning("trial %d stopped: %s", trial.number, reason)
        return reason


def pooled(train_data: ImageData, val_data: ImageData) -> ImageData:
    """The training and validation images as one labelled set (rows of the same decoded cache)."""
    return ImageData(train_data.x, np.concatenate([train_data.rows, val_data.rows]),
                     np.concatenate([train_data.y, val_data.y]), train_data.classes, train_data.description)


def _host(trial) -> str:
    """The host a trial ran on (its worker attribute is host:pid)."""
    return str(trial.user_attrs.get(WORKER, "")).rpartition(":")[0]


def _best(result: TrainResult, metric: str) -> float:
    """The kept epoch's validation `metric`."""
    return float(result.history[result.best_epoch - 1].get(f"val_{metric}", 0.0))
