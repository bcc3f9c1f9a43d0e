"""Every pruning rule of a search, built by one function.

Holdout trials report each epoch's validation accuracy. By default every trial races the best
recipe so far (the incumbent): from the first rung on, it stops when it falls behind the
incumbent's learning curve by more than the noise of two accuracies on the validation images
(`keeps_up`). Hyperband, successive halving and the median rule stay available by name; with
them, local steps are still judged by the racing rule (Hyperband's early rungs, which keep a
third of the trials whatever their scores, would cut small changes at random). The base
recipe's trial and the confirmation reruns are never pruned: the never-worse rule needs them
whole. Cross-validation trials report each fold's score: the Wilcoxon signed-rank test
against the best trial decides. A trial's last epoch is always scored, never pruned (the
objective asks only before it).
"""

from __future__ import annotations

import math

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial, TrialState

from ..errors import AutorecipeError
from .attributes import BASELINE, CONFIRMS, LOCAL, VAL_IMAGES
from .results import best_trial

PRUNERS = ("race", "hyperband", "halving", "median", "none")
MIN_RESOURCE_FRACTION = 0.25  # the first rung: a quarter of a trial's epochs (see README, "Pruning")
REDUCTION_FACTOR = 3
WILCOXON_P = 0.1


def min_resource(max_epochs: int, min_epochs: int | None = None) -> int:
    """The first rung in epochs: `min_epochs`, or MIN_RESOURCE_FRACTION of a trial's epochs."""
    if min_epochs is None:
        return max(1, math.ceil(max_epochs * MIN_RESOURCE_FRACTION))
    if not 1 <= min_epochs <= max_epochs:
        raise AutorecipeError(f"--min-epochs {min_epochs}: must be from 1 to the trial's epochs ({max_epochs})")
    return min_epochs


def make_pruner(name: str, max_epochs: int, min_epochs: int | None = None, folds: int | None = None) -> BasePruner:
    """The search's pruner: for cross-validation the Wilcoxon test over folds; else the pruner called
    `name` over epochs (racing the incumbent by default), with local steps judged by the racing rule."""
    if folds:
        return KeptWhole(optuna.pruners.WilcoxonPruner(p_threshold=WILCOXON_P))
    first = min_resource(max_epochs, min_epochs)
    if name == "race":
        return KeptWhole(RacePruner(first))
    if name == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=first, max_resource=max_epochs,
                                                reduction_factor=REDUCTION_FACTOR)
    elif name == "halving":
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=REDUCTION_FACTOR)
    elif name == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=first - 1)
    elif name == "none":
        pruner = optuna.pruners.NopPruner()
    else:
        raise AutorecipeError(f"--pruner {name}: unknown pruner; valid pruners: {', '.join(PRUNERS)}")
    return KeptWhole(LocalStepPruner(pruner))


class KeptWhole(BasePruner):
    """Never prunes the base recipe's trial or a confirmation rerun; asks the pruner it wraps for the others."""

    def __init__(self, pruner: BasePruner):
        self.pruner = pruner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if trial.user_attrs.get(BASELINE) or CONFIRMS in trial.user_attrs:
            return False
        return self.pruner.prune(study, trial)


class RacePruner(BasePruner):
    """Stops a trial, from epoch `first` on, that falls behind the incumbent's learning curve by more than noise."""

    def __init__(self, first: int = 1):
        self.first = first

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.first:
            return False
        return behind_incumbent(study, trial, step)


class LocalStepPruner(BasePruner):
    """Judges local steps by the racing rule (from the first epoch) and every other trial by the pruner it wraps."""

    def __init__(self, pruner: BasePruner):
        self.pruner = pruner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if not trial.user_attrs.get(LOCAL):
            return self.pruner.prune(study, trial)
        step = trial.last_step
        return step is not None and behind_incumbent(study, trial, step)


def behind_incumbent(study: optuna.Study, trial: FrozenTrial, step: int) -> bool:
    """Whether `trial`'s score at `step` is behind the complete incumbent's at that step by more than noise."""
    incumbent = best_trial(study)
    if incumbent is None or incumbent.state != TrialState.COMPLETE or incumbent.number == trial.number:
        return False
    images = int(trial.user_attrs.get(VAL_IMAGES, 0))
    return not keeps_up(trial.intermediate_values[step], incumbent.intermediate_values, step, images)


def keeps_up(score: float, incumbent: dict[int, float], epoch: int, images: int) -> bool:
    """Whether a local step's validation accuracy at `epoch` is within noise of the incumbent's at
    the same epoch: at most two standard errors of the difference of two accuracies on `images`."""
    reference = incumbent.get(epoch)
    if reference is None or images <= 0:
        return True
    noise = math.sqrt(2 * reference * (1 - reference) / images)
    return score >= reference - 2 * noise
