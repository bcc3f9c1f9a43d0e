"""A search's spending against its budget (see budget.py for the grammar): the first limit reached ends it.

While it searches, a part of each limit may be held back (`hold`) for the confirmation reruns of
the never-worse rule (adoption.py) and the retrain; `release` hands it all back.
"""

from __future__ import annotations

import time

import optuna

from ..budget import Budget
from .attributes import EPOCHS_CHARGED, EPOCHS_RUN
from .resume import cut_off_numbers, is_interrupted, is_not_run


class BudgetClock:
    """Tracks a search's spending against its budget, across every process sharing the study."""

    def __init__(self, budget: Budget, study: optuna.Study):
        self.budget, self.study = budget, study
        self.deadline = time.monotonic() + budget.seconds if budget.seconds else None
        self.held = Budget()

    def hold(self, held: Budget) -> None:
        """Keep `held` of each limit back from the trials that search."""
        self.held = held

    def release(self) -> None:
        """Hand back everything held (before the retrain)."""
        self.held = Budget()

    def epochs_used(self) -> float:
        """Training epochs spent by every trial of the study (all processes, all sessions), each weighted by
        its training images over a trial's."""
        return sum(float(t.user_attrs.get(EPOCHS_CHARGED, t.user_attrs.get(EPOCHS_RUN, 0)))
                   for t in self.study.get_trials(deepcopy=False))

    def out_of_time(self) -> bool:
        left = self.seconds_left()
        return left is not None and left <= 0

    def out_of_epochs(self) -> bool:
        return self.budget.epochs is not None and self.epochs_used() >= self.budget.epochs - (self.held.epochs or 0)

    def exhausted(self) -> bool:
        """Whether the trials must stop: time, epochs or trials spent (less what is held back)."""
        trials = (self.budget.trials is not None
                  and _started(self.study) >= self.budget.trials - (self.held.trials or 0))
        return trials or self.out_of_time() or self.out_of_epochs()

    def seconds_left(self) -> float | None:
        """Seconds left to the trials (less what is held back); None without a time limit."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - (self.held.seconds or 0) - time.monotonic())


def _started(study: optuna.Study) -> int:
    """Trials that count against a trials budget: complete, pruned, failed (not cut off by Ctrl-C or a
    kill, nor queued and never run), or running in another worker."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL,
              optuna.trial.TrialState.RUNNING)
    marked = cut_off_numbers(study)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states)
               if not is_interrupted(t, marked) and not is_not_run(t))
