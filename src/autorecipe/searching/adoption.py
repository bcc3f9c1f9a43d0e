"""The never-worse rule: a search returns another recipe than its base only when it is better by more than noise.

The base recipe (the default recipe unless --recipe or --set change it) is the search's first
trial. When the budget for searching is spent, the best other recipe (the candidate) and the
base are trained again with CONFIRM_SEEDS more seeds: reruns counted in the budget, which the
search keeps back for them (`held_back`). The candidate is adopted only when its gain over the
base on the reruns, paired on the same validation images and seeds, has a 95% paired-bootstrap
interval above zero (statistics.paired_bootstrap); otherwise the search returns the base recipe
and says that no better recipe was found within the budget. The reruns alone decide: the
candidate's first score is the best of many on the same images, so it is biased upwards (the
winner's curse). Without room in the budget for reruns, the first scores decide, and the
verdict says it is unconfirmed.
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
    confirmed: bool = False  # judged on confirmation reruns (else on the first scores: no room for reruns)
    missing: bool = False  # the candidate's reruns were queued but did not finish: not adopted

    def sentence(self) -> str:
        """The verdict in plain words, for the summary and the log."""
        if self.baseline is None:
            return f"the base recipe has no score to compare with; returning the best trial ({self.chosen})"
        if self.candidate is None:
            return "no better recipe found within the budget: no other recipe scored above the base recipe"
        if self.missing:
            return (f"no better recipe found within the budget: the best, trial {self.candidate}, could not be "
                    "confirmed (its rerun did not finish)")
        runs = (f"on {self.seeds} confirmation rerun{'s' if self.seeds > 1 else ''}" if self.confirmed
                else "unconfirmed: the budget had no room for a confirmation rerun")
        if self.adopted:
            return f"trial {self.candidate} beats the base recipe by {self.gain} on validation ({runs})"
        return (f"no better recipe found within the budget: the best, trial {self.candidate}, scored "
                f"{self.gain} against the base recipe on validation ({runs}), within the noise")

    def to_dict(self) -> dict:
        return {"adopted": self.adopted, "chosen_trial": self.chosen, "baseline_trial": self.baseline,
                "candidate_trial": self.candidate, "seeds": self.seeds, "confirmed": self.confirmed,
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


def confirmation_fits(budget: Budget, trial_epochs: int, trial_seconds: float | None) -> bool:
    """Whether every limit of `budget` has room for the confirmation reruns beside as many trials again (and,
    with a time limit, the retrain); a time limit needs the trials' seconds to know."""
    runs = 2 * CONFIRM_SEEDS
    room = []
    if budget.trials:
        room.append(budget.trials >= 2 * runs)
    if budget.epochs:
        room.append(budget.epochs >= 2 * runs * trial_epochs)
    if budget.seconds:
        room.append(bool(trial_seconds) and budget.seconds >= 2 * (runs + 1) * trial_seconds)
    return all(room)


def held_back(budget: Budget, trial_epochs: int, trial_seconds: float | None, *, confirming: bool,
              retrain: bool) -> Budget:
    """What the trials leave of `budget` for what follows them: while searching (not `confirming`), the
    confirmation reruns' trials, epochs and seconds when they fit; with `retrain` and a time limit, one
    trial's seconds for the retrain. `trial_seconds` is a full trial's time (the slower of the base and the
    best trial so far; None before one has run)."""
    runs = 2 * CONFIRM_SEEDS if not confirming and confirmation_fits(budget, trial_epochs, trial_seconds) else 0
    seconds = 0.0
    if budget.seconds and trial_seconds:
        seconds = runs * trial_seconds + (trial_seconds if retrain and budget.seconds >= 2 * trial_seconds else 0)
    return Budget(runs if budget.trials and runs else None, seconds or None,
                  runs * trial_epochs if budget.epochs and runs else None)


def waiting_reruns(study: optuna.Study) -> bool:
    """Whether confirmation reruns wait to run (queued now, or queued again after a kill)."""
    return any(t.state == TrialState.WAITING and CONFIRMS in t.user_attrs for t in study.get_trials(deepcopy=False))


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
        return None if candidate is None else Verdict(False, candidate.number, None, None, None, 0)
    paired = paired_correctness(study)
    if paired is None:
        return Verdict(False, baseline.number, baseline.number, None, None, 1)
    if len(paired[0]) == 1 and _reruns(study, candidate.number, done=False, failed=True):
        return Verdict(False, baseline.number, baseline.number, candidate.number, None, 1, missing=True)
    gain = confirmed_gain(*paired, level=level)
    chosen = candidate.number if gain.above_zero else baseline.number
    confirmed = len(paired[0]) > 1
    return Verdict(gain.above_zero, chosen, baseline.number, candidate.number, gain,
                   len(paired[0]) - 1 if confirmed else 1, confirmed)


def confirmed_gain(first: np.ndarray, second: np.ndarray, level: float = LEVEL) -> Difference:
    """The rule's paired gain of candidate over base, from `paired_correctness`'s rows (the first scores, then
    the reruns): the reruns alone when there are any, else the first scores."""
    rows = slice(1, None) if len(first) > 1 else slice(None)
    return paired_bootstrap(first[rows], second[rows], level=level)


def paired_correctness(study: optuna.Study) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-image validation correctness of the candidate and the base, (seeds, images) each: the first
    scores, then the confirmation reruns both finished; None without a candidate."""
    baseline, candidate = baseline_trial(study), best_trial(study)
    if baseline is None or not _is_candidate(candidate, baseline) or VAL_CORRECT not in candidate.user_attrs:
        return None
    first, second = [unpack(candidate.user_attrs[VAL_CORRECT])], [unpack(baseline.user_attrs[VAL_CORRECT])]
    if len(first[0]) != len(second[0]):  # scored on other images (a changed validation set): not paired
        return None
    base_reruns = {t.user_attrs[CONFIRM_SEED]: t for t in _reruns(study, baseline.number)}
    for rerun in _reruns(study, candidate.number):
        paired = base_reruns.get(rerun.user_attrs[CONFIRM_SEED])
        if (paired is not None and VAL_CORRECT in rerun.user_attrs and VAL_CORRECT in paired.user_attrs
                and len(unpack(rerun.user_attrs[VAL_CORRECT])) == len(first[0])):
            first.append(unpack(rerun.user_attrs[VAL_CORRECT]))
            second.append(unpack(paired.user_attrs[VAL_CORRECT]))
    return np.stack(first), np.stack(second)


def _is_candidate(candidate: FrozenTrial | None, baseline: FrozenTrial) -> bool:
    """Whether `candidate` is a complete recipe other than the base that scored above it."""
    return (candidate is not None and candidate.state == TrialState.COMPLETE
            and candidate.number != baseline.number and candidate.value > baseline.value)


def _reruns(study: optuna.Study, number: int, done: bool = True, failed: bool = False) -> list[FrozenTrial]:
    """The confirmation reruns of trial `number`: complete ones, or (done=False) also waiting or running, and
    (failed) also failed or pruned ones."""
    states = (TrialState.COMPLETE,) if done else (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    if failed:
        states += (TrialState.FAIL, TrialState.PRUNED)
    return [t for t in study.get_trials(deepcopy=False, states=states) if t.user_attrs.get(CONFIRMS) == number]
