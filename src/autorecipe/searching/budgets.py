"""A search's spending against its budget (see budget.py for the grammar): the first limit reached ends it."""

from __future__ import annotations

import time

import optuna

from ..budget import Budget
from .attributes import EPOCHS_RUN
from .resume import is_interrupted


class BudgetClock:
    """Tracks a search's spending against its budget, across every process sharing the study."""

    def __init__(self, budget: Budget, study: optuna.Study):
        self.budget, self.study = budget, study
        self.deadline = time.monotonic() + budget.seconds if budget.seconds else None

    def epochs_used(self) -> int:
        """Training epochs spent by every trial of the study (all processes, all sessions)."""
        return sum(int(t.user_attrs.get(EPOCHS_RUN, 0)) for t in self.study.get_trials(deepcopy=False))

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def out_of_epochs(self) -> bool:
        return self.budget.epochs is not None and self.epochs_used() >= self.budget.epochs

    def exhausted(self) -> bool:
        """Whether the search must stop: time, epochs or trials spent."""
        trials = self.budget.trials is not None and _started(self.study) >= self.budget.trials
        return trials or self.out_of_time() or self.out_of_epochs()

    def seconds_left(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())


def _started(study: optuna.Study) -> int:
    """Trials that count against a trials budget: complete, pruned, failed (not cut off by Ctrl-C or a
    kill), or running in another worker."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL,
              optuna.trial.TrialState.RUNNING)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states) if not is_interrupted(t))
