"""The never-worse rule: a search returns another recipe than its base only when it is better by more than noise.

The base recipe (the default recipe unless --recipe or --set change it) is the search's first
trial. When the budget for searching is spent, the best other recipe (the candidate) and the
base are trained again with CONFIRM_SEEDS more seeds: reruns counted in the budget, which the
search keeps back for them (`held_back`). The candidate is adopted only when its gain over the
base, paired on the same validation images and seeds, has a 95% paired-bootstrap interval
above zero (statistics.paired_bootstrap); otherwise the search returns the base recipe and
says that no better recipe was found within the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from ..budget import Budget
from ..statistics import LEVEL, Difference, paired_bootstrap
from .attributes import BASELINE, CONFIRM_SEED, CONFIRMS, OUTSIDE, VAL_CORRECT
from .results import best_trial

CONFIRM_SEEDS = 1  # seeds each of the candidate and the base are trained again with


@dataclass(frozen=True)
class Verdict:
    """What the rule decided: the trial whose recipe the search returns, and the candidate's gain over the base."""

    adopted: bool  # whether the candidate replaces the base recipe
    chosen: int  # the trial whose recipe the search returns
    baseline: int | None
    candidate: int | None
    gain: Difference | None  # candidate minus base, paired; None when there is no candidate to compare
    seeds: int  # seeds in the comparison

    def sentence(self) -> str:
        """The verdict in plain words, for the summary and the log."""
        if self.baseline is None:
            return f"the base recipe has no score to compare with; returning the best trial ({self.chosen})"
        if self.candidate is None:
            return "no better recipe found within the budget: no other recipe scored above the base recipe"
        seeds = f"{self.seeds} seed{'s' if self.seeds > 1 else ''}"
        if self.adopted:
            return f"trial {self.candidate} beats the base recipe by {self.gain} on validation ({seeds})"
        return (f"no better recipe found within the budget: the best, trial {self.candidate}, scored "
                f"{self.gain} against the base recipe on validation ({seeds}), within the noise")

    def to_dict(self) -> dict:
        return {"adopted": self.adopted, "chosen_trial": self.chosen, "baseline_trial": self.baseline,
                "candidate_trial": self.candidate, "seeds": self.seeds,
                "gain": self.gain.to_dict() if self.gain else None, "verdict": self.sentence()}


def pack(correct: np.ndarray) -> str:
    """Per-image correctness as text for a trial attribute: 'count:hex of the packed bits'."""
    bits = np.asarray(correct, dtype=bool)
    return f"{len(bits)}:{np.packbits(bits).tobytes().hex()}"


def unpack(text: str) -> np.ndarray:
    """The correctness `pack` stored."""
    count, _, hex_bits = text.partition(":")
    return np.unpackbits(np.frombuffer(bytes.fromhex(hex_bits), dtype=np.uint8))[:int(count)].astype(bool)


def baseline_trial(study: optuna.Study) -> FrozenTrial | None:
    """The base recipe's complete trial at the search's own seed."""
    return next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                 if t.user_attrs.get(BASELINE) and CONFIRMS not in t.user_attrs), None)


def held_back(budget: Budget, trial_epochs: int, trial_seconds: float | None, *, confirming: bool,
              retrain: bool) -> Budget:
    """What the trials leave of `budget` for what follows them: while searching (not `confirming`), the
    confirmation reruns' trials, epochs and seconds; and, with `retrain`, the retrain's seconds. Times are
    the base trial's (none before it has run); nothing is held of a limit too small to hold it beside a
    few trials."""
    runs = 0 if confirming else 2 * CONFIRM_SEEDS
    trials = runs if budget.trials and budget.trials >= 2 * runs else None
    epochs = runs * trial_epochs if budget.epochs and budget.epochs >= 2 * runs * trial_epochs else None
    seconds, timed = None, runs + int(retrain)
    if budget.seconds and trial_seconds and budget.seconds >= 2 * timed * trial_seconds:
        seconds = timed * trial_seconds
    return Budget(trials or None, seconds or None, epochs or None)


def can_confirm(budget: Budget, held: Budget) -> bool:
    """Whether searching held room for the reruns in every limit of `budget` (`held` as held_back gave it)."""
    return all(getattr(held, limit) is not None for limit in ("trials", "seconds", "epochs")
               if getattr(budget, limit) is not None)


def queue_confirmations(study: optuna.Study, seed: int) -> int:
    """Queue the reruns of the candidate and the base recipe the rule still needs; returns how many."""
    baseline, candidate = baseline_trial(study), best_trial(study)
    if baseline is None or not _is_candidate(candidate, baseline):
        return 0
    queued = 0
    for trial in (candidate, baseline):
        have = {t.user_attrs.get(CONFIRM_SEED) for t in _reruns(study, trial.number, done=False)}
        for rerun_seed in range(seed + 1, seed + 1 + CONFIRM_SEEDS):
            if rerun_seed not in have:
                attrs = {CONFIRMS: trial.number, CONFIRM_SEED: rerun_seed, OUTSIDE: trial.user_attrs.get(OUTSIDE, {})}
                if trial.user_attrs.get(BASELINE):
                    attrs[BASELINE] = True
                study.enqueue_trial(trial.params, user_attrs=attrs)
                queued += 1
    return queued


def judge(study: optuna.Study, level: float = LEVEL) -> Verdict:
    """Apply the rule to the study as it stands: the candidate, the base, and the paired gain over the seeds
    both were trained with (adopted when its `level` interval is above zero)."""
    baseline, candidate = baseline_trial(study), best_trial(study)
    if baseline is None:
        return Verdict(False, candidate.number, None, None, None, 0)
    paired = paired_correctness(study)
    if paired is None:
        return Verdict(False, baseline.number, baseline.number, None, None, 1)
    gain = paired_bootstrap(*paired, level=level)
    chosen = candidate.number if gain.above_zero else baseline.number
    return Verdict(gain.above_zero, chosen, baseline.number, candidate.number, gain, len(paired[0]))


def paired_correctness(study: optuna.Study) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-image validation correctness of the candidate and the base, (seeds, images) each, over the seeds
    both were trained with; None without a candidate."""
    baseline, candidate = baseline_trial(study), best_trial(study)
    if baseline is None or not _is_candidate(candidate, baseline) or VAL_CORRECT not in candidate.user_attrs:
        return None
    first, second = [unpack(candidate.user_attrs[VAL_CORRECT])], [unpack(baseline.user_attrs[VAL_CORRECT])]
    base_reruns = {t.user_attrs[CONFIRM_SEED]: t for t in _reruns(study, baseline.number)}
    for rerun in _reruns(study, candidate.number):
        paired = base_reruns.get(rerun.user_attrs[CONFIRM_SEED])
        if paired is not None and VAL_CORRECT in rerun.user_attrs and VAL_CORRECT in paired.user_attrs:
            first.append(unpack(rerun.user_attrs[VAL_CORRECT]))
            second.append(unpack(paired.user_attrs[VAL_CORRECT]))
    return np.stack(first), np.stack(second)


def _is_candidate(candidate: FrozenTrial | None, baseline: FrozenTrial) -> bool:
    """Whether `candidate` is a complete recipe other than the base that scored above it."""
    return (candidate is not None and candidate.state == TrialState.COMPLETE
            and candidate.number != baseline.number and candidate.value > baseline.value)


def _reruns(study: optuna.Study, number: int, done: bool = True) -> list[FrozenTrial]:
    """The confirmation reruns of trial `number`: complete ones, or (done=False) also waiting or running."""
    states = (TrialState.COMPLETE,) if done else (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    return [t for t in study.get_trials(deepcopy=False, states=states) if t.user_attrs.get(CONFIRMS) == number]
