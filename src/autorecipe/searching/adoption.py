"""The never-worse rule: a search returns another recipe than its base only when it is better by more than noise.

The base recipe (the default recipe unless --recipe or --set change it) is the search's first
trial. When the budget for searching is spent, the best other recipe (the candidate) and the
base are trained again with CONFIRM_SEEDS more seeds: reruns counted in the budget, which the
search keeps back for them (`held_back`). The candidate is adopted only when its gain over the
base on the reruns, paired on the same validation images and seeds, has a 95% paired-bootstrap
interval above zero (statistics.paired_bootstrap over the images, of each image's gain averaged over
the reruns: every rerun scores the same images); otherwise the search returns the base recipe
and says that no better recipe was found within the budget. The reruns alone decide: the
candidate's first score is the best of many on the same images, so it is biased upwards (the
winner's curse). Without room in the budget for reruns, the first scores decide, and the
verdict says it is unconfirmed.

A small validation split cannot tell recipes a few points apart (on 200 images the 95%
half-width of a paired difference is about 6 points). So when the search split the validation
images off the data itself, a rerun is cross-fitted (`confirmation_folds`): the labelled images
are cut into CONFIRM_FOLDS stratified parts, and the recipe trains on the others and is scored on
each in turn, so every labelled image is scored once, by both recipes, from models that did not
train on it. Trained on half the images each, the two folds cost about one trial; each of a recipe's
CONFIRM_SEEDS reruns cuts other halves, so every image is scored CONFIRM_SEEDS times. With --val the
reruns are scored on the user's validation images; with --cv, on its folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import math
import warnings

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from sklearn.model_selection import StratifiedKFold

from ..budget import Budget
from ..statistics import LEVEL, Difference, paired_bootstrap
from .attributes import BASELINE, CONFIRM_SEED, CONFIRMS, OUTSIDE, RERUN_OF, VAL_CORRECT, VAL_LABELS
from .resume import is_cut_off, queue_head
from .results import best_trial

CONFIRM_SEEDS = 2  # seeds each of the candidate and the base are trained again with
CONFIRM_FOLDS = 2  # parts of the labelled images a cross-fitted rerun trains on and scores in turn
SCORING = 1 / 3  # an image scored costs about this much of an image trained on (a forward pass only)


@dataclass(frozen=True)
class Verdict:
    """What the rule decided: the trial whose recipe the search returns, and the candidate's gain over the base."""

    adopted: bool  # whether the candidate replaces the base recipe
    chosen: int  # the trial whose recipe the search returns
    baseline: int | None
    candidate: int | None
    gain: Difference | None  # candidate minus base, paired; None when there is no candidate to compare
    seeds: int  # seeds in the comparison
    images: int = 0  # validation images each seed is paired on
    confirmed: bool = False  # judged on confirmation reruns (else on the first scores: no room for reruns)
    missing: bool = False  # its reruns or the base's were queued but did not finish: not adopted

    def sentence(self) -> str:
        """The verdict in plain words, for the summary and the log."""
        if self.baseline is None:
            return f"the base recipe has no score to compare with; returning the best trial ({self.chosen})"
        if self.candidate is None:
            return "no better recipe found within the budget: no other recipe scored above the base recipe"
        if self.missing:
            return (f"no better recipe found within the budget: the best, trial {self.candidate}, could not be "
                    "confirmed (its confirmation reruns did not both finish)")
        runs = (f"on {self.seeds} confirmation rerun{'s' if self.seeds > 1 else ''} over {self.images:,} images"
                if self.confirmed else "unconfirmed: the budget had no room for a confirmation rerun")
        if self.adopted:
            return f"trial {self.candidate} beats the base recipe by {self.gain} on validation ({runs})"
        return (f"no better recipe found within the budget: the best, trial {self.candidate}, scored "
                f"{self.gain} against the base recipe on validation ({runs}), within the noise")

    def to_dict(self) -> dict:
        return {"adopted": self.adopted, "chosen_trial": self.chosen, "baseline_trial": self.baseline,
                "candidate_trial": self.candidate, "seeds": self.seeds, "images": self.images,
                "confirmed": self.confirmed,
                "gain": self.gain.to_dict() if self.gain else None, "verdict": self.sentence()}


def pack(correct: np.ndarray) -> str:
    """Per-image correctness as text for a trial attribute: 'count:hex of the packed bits'."""
    bits = np.asarray(correct, dtype=bool)
    return f"{len(bits)}:{np.packbits(bits).tobytes().hex()}"


def unpack(text: str) -> np.ndarray:
    """The correctness `pack` stored."""
    count, _, hex_bits = text.partition(":")
    return np.unpackbits(np.frombuffer(bytes.fromhex(hex_bits), dtype=np.uint8))[:int(count)].astype(bool)


def pack_labels(labels: np.ndarray) -> str:
    """Per-image classes as text for a trial attribute: hex of little-endian uint16."""
    return np.asarray(labels, dtype="<u2").tobytes().hex()


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-image weights whose weighted mean correctness is the balanced accuracy: N / (K n_class)."""
    present, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return len(labels) / (len(present) * counts[inverse])


def _weights(trial: FrozenTrial) -> np.ndarray | None:
    """The weights of a trial's validation images: balanced when it stored their classes, else None."""
    text = trial.user_attrs.get(VAL_LABELS)
    return None if text is None else balanced_weights(np.frombuffer(bytes.fromhex(text), dtype="<u2"))


def baseline_trial(study: optuna.Study) -> FrozenTrial | None:
    """The base recipe's complete trial at the search's own seed."""
    return next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                 if t.user_attrs.get(BASELINE) and CONFIRMS not in t.user_attrs), None)


@dataclass(frozen=True)
class RerunCost:
    """A confirmation rerun's cost in trials: in epochs (the images it trains on) and in seconds (the images
    it trains on and scores)."""

    epochs: float = 1.0
    seconds: float = 1.0

    @classmethod
    def cross_fitted(cls, train: int, val: int) -> RerunCost:
        """A rerun over all `train` + `val` labelled images: each trained on once and scored once, where a
        trial trains on `train` and scores `val` (an epoch each)."""
        labelled = train + val
        return cls(labelled / train, labelled * (1 + SCORING) / (train + SCORING * val))


def confirmation_fits(budget: Budget, trial_epochs: int, trial_seconds: float | None,
                      cost: RerunCost = RerunCost()) -> bool:
    """Whether every limit of `budget` has room for the confirmation reruns (each `cost`) beside as many trials
    again (and, with a time limit, the retrain); a time limit needs the trials' seconds to know."""
    runs = 2 * CONFIRM_SEEDS
    room = []
    if budget.trials:
        room.append(budget.trials >= 2 * runs)
    if budget.epochs:
        room.append(budget.epochs >= 2 * runs * cost.epochs * trial_epochs)
    if budget.seconds:
        room.append(bool(trial_seconds) and budget.seconds >= 2 * (runs * cost.seconds + 1) * trial_seconds)
    return all(room)


def held_back(budget: Budget, trial_epochs: int, trial_seconds: float | None, *, confirming: bool,
              retrain: bool, cost: RerunCost = RerunCost()) -> Budget:
    """What the trials leave of `budget` for what follows them: while searching, the confirmation reruns'
    trials, epochs and seconds when they fit (each `cost`), and with `retrain` and a time limit one trial's
    seconds for the retrain; while `confirming`, nothing: the reruns decide what the retrain trains, and it
    trains within whatever time is left. `trial_seconds` is a full trial's time (the slower of the base and
    the best trial so far; None before one has run)."""
    if confirming:
        return Budget()
    runs = 2 * CONFIRM_SEEDS if confirmation_fits(budget, trial_epochs, trial_seconds, cost) else 0
    seconds = 0.0
    if budget.seconds and trial_seconds:
        seconds = runs * cost.seconds * trial_seconds + (trial_seconds if retrain and budget.seconds >= 2 * trial_seconds
                                                         else 0)
    return Budget(runs if budget.trials and runs else None, seconds or None,
                  math.ceil(runs * cost.epochs * trial_epochs) if budget.epochs and runs else None)


def confirmation_folds(labels: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, score) positions of a cross-fitted rerun with `seed`: CONFIRM_FOLDS stratified parts of the
    labelled images, each scored once (the same parts for the candidate and the base: paired)."""
    splitter = StratifiedKFold(n_splits=CONFIRM_FOLDS, shuffle=True, random_state=seed % 2**32)
    with warnings.catch_warnings():  # a class with one image is scored in one part and trained on in none
        warnings.simplefilter("ignore", UserWarning)
        return list(splitter.split(np.zeros(len(labels)), labels))


def waiting_reruns(study: optuna.Study) -> bool:
    """Whether confirmation reruns wait to run (queued now, or queued again after a kill)."""
    return any(t.state == TrialState.WAITING and CONFIRMS in t.user_attrs for t in study.get_trials(deepcopy=False))


def rerun_next(study: optuna.Study) -> bool:
    """Whether the trial Optuna runs next (the first waiting one) is a rerun the budget holds room for: a
    confirmation rerun, or the recipe of a trial a kill cut off, queued again (it runs in its trial's place)."""
    head = queue_head(study)
    return head is not None and (CONFIRMS in head.user_attrs or RERUN_OF in head.user_attrs)


def reruns_elsewhere(study: optuna.Study) -> list[FrozenTrial]:
    """The confirmation reruns another live worker is running (judge after they finish); a rerun a worker has
    just taken, before it names itself, counts as live."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if CONFIRMS in t.user_attrs and not is_cut_off(t)]


def duplicate_rerun(trial: optuna.Trial) -> int | None:
    """For a confirmation rerun that another worker queued too (two workers that judged at one instant): the
    number of the earlier one, which runs it; None otherwise."""
    attrs = trial.user_attrs
    if CONFIRMS not in attrs:
        return None
    alive = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)  # not failed or cut off
    same = [t.number for t in trial.study.get_trials(deepcopy=False, states=alive) if t.number < trial.number
            and t.user_attrs.get(CONFIRMS) == attrs[CONFIRMS] and t.user_attrs.get(CONFIRM_SEED) == attrs[CONFIRM_SEED]]
    return same[0] if same else None


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
    if paired.reruns is None and _reruns(study, candidate.number, done=False, failed=True):
        return Verdict(False, baseline.number, baseline.number, candidate.number, None, 1, missing=True)
    gain = paired.gain(level)
    chosen = candidate.number if gain.above_zero else baseline.number
    candidate_rows, _ = paired.deciding()
    return Verdict(gain.above_zero, chosen, baseline.number, candidate.number, gain, len(candidate_rows),
                   candidate_rows.shape[1], confirmed=paired.reruns is not None)


@dataclass(frozen=True)
class Paired:
    """Per-image validation correctness of the candidate and the base: their first scores (1-D, on the
    search's validation images) and their confirmation reruns ((reruns, images) each, paired on the same
    images; None before both finished). A cross-fitted rerun scores all labelled images, so its images are
    not the first scores'."""

    first: tuple[np.ndarray, np.ndarray]
    reruns: tuple[np.ndarray, np.ndarray] | None = None
    weights: tuple[np.ndarray | None, np.ndarray | None] = (None, None)  # of the first scores' and the reruns'
    # images, in a search by balanced accuracy or macro-F1 (balanced_weights): each image's correctness counts by
    # its weight, so the gain is in balanced accuracy; None: plain accuracy

    def deciding(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows the rule decides on, (seeds, images) each: the reruns alone when there are any (the
        candidate's first score is biased upwards), else the first scores."""
        return self.reruns if self.reruns is not None else (self.first[0][None], self.first[1][None])

    def gain(self, level: float = LEVEL) -> Difference:
        """The rule's paired gain of candidate over base, on the deciding rows: each image's gain averaged over
        the rows (they score the same images), bootstrapped over the images. Two or three seeds are too few
        to resample (a two-stage bootstrap over two seeds draws one of them twice half the time, throwing
        half the images away); the A/A check measures the rule's false adoptions instead."""
        candidate, base = self.deciding()
        weights = self.weights[1] if self.reruns is not None else self.weights[0]
        scale = 1.0 if weights is None or len(weights) != candidate.shape[1] else weights
        return paired_bootstrap(scale * candidate.mean(axis=0), scale * base.mean(axis=0), level=level)

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """The first scores and the reruns as one row of images each (a rule that counts the first scores too;
        a cross-fitted rerun scores the first scores' images again: each score counts)."""
        rows = [self.first] if self.reruns is None else [self.first, *zip(*self.reruns)]
        return tuple(np.concatenate([row[k] for row in rows])[None] for k in (0, 1))

    def packed(self) -> dict:
        """As text, for a benchmark's results: lists of `pack`ed rows, the first scores first."""
        rows = [self.first] + ([] if self.reruns is None else list(zip(*self.reruns)))
        return {"candidate": [pack(c) for c, _ in rows], "base": [pack(b) for _, b in rows]}

    @classmethod
    def unpacked(cls, packed: dict) -> Paired:
        """The Paired that `packed` wrote."""
        candidate, base = ([unpack(text) for text in packed[k]] for k in ("candidate", "base"))
        reruns = (np.stack(candidate[1:]), np.stack(base[1:])) if len(candidate) > 1 else None
        return cls((candidate[0], base[0]), reruns)


def paired_correctness(study: optuna.Study) -> Paired | None:
    """The candidate's and the base's per-image correctness, first scores and the confirmation reruns both
    finished; None without a candidate (or when the first scores are on other images: a changed
    validation set)."""
    baseline, candidate = baseline_trial(study), best_trial(study)
    if baseline is None or not _is_candidate(candidate, baseline) or VAL_CORRECT not in candidate.user_attrs:
        return None
    first = (unpack(candidate.user_attrs[VAL_CORRECT]), unpack(baseline.user_attrs[VAL_CORRECT]))
    if len(first[0]) != len(first[1]):
        return None
    base_reruns = {t.user_attrs[CONFIRM_SEED]: t for t in _reruns(study, baseline.number)}
    rows, rerun_weights = [], None
    for rerun in _reruns(study, candidate.number):
        paired = base_reruns.get(rerun.user_attrs[CONFIRM_SEED])
        if paired is not None and VAL_CORRECT in rerun.user_attrs and VAL_CORRECT in paired.user_attrs:
            row = (unpack(rerun.user_attrs[VAL_CORRECT]), unpack(paired.user_attrs[VAL_CORRECT]))
            if len(row[0]) == len(row[1]) and (not rows or len(row[0]) == len(rows[0][0])):
                rows.append(row)
                rerun_weights = _weights(rerun)  # the reruns score the same images in the same order
    return Paired(first, (np.stack([c for c, _ in rows]), np.stack([b for _, b in rows])) if rows else None,
                  (_weights(candidate), rerun_weights))


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
