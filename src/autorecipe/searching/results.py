"""What a study found: the best trial, the trials table, state counts, and knob and bucket importance."""

from __future__ import annotations

import csv
import io
import logging

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..knobs import registry
from .attributes import CONFIRMS, EPOCHS_RUN, ERROR, LOCAL, OUTSIDE, STOPPED, WARM_START
from .resume import cut_off_numbers, is_interrupted, is_not_run
from .space import SearchSpace, knob_of

log = logging.getLogger("autorecipe")

MIN_COMPLETE = 3  # complete trials fANOVA needs to score knob importance
TRIAL_COLUMNS = ("number", "state", "value", "epochs_run", "seconds", "warm_start", "local", "confirms", "error")


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial; without one, the pruned trial with the best reported score.
    Confirmation reruns (another seed of a recipe already tried) are not candidates."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if CONFIRMS not in t.user_attrs]
    if complete:
        return max(complete, key=lambda t: t.value)
    pruned = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
              if t.intermediate_values and CONFIRMS not in t.user_attrs]
    return max(pruned, key=lambda t: max(t.intermediate_values.values()), default=None)


def trial_score(trial: FrozenTrial) -> float | None:
    """A trial's value, or for a pruned trial its best reported score."""
    if trial.value is not None:
        return trial.value
    return max(trial.intermediate_values.values()) if trial.intermediate_values else None


def trial_state(trial: FrozenTrial, marked: frozenset[int] = frozenset()) -> str:
    """Optuna's state of a trial in lower case; interrupted for one cut off by Ctrl-C or a kill (or `marked` so
    on the study, see resume.cut_off_numbers), not_run for one queued when the budget ended."""
    if trial.state == TrialState.FAIL and is_interrupted(trial, marked):
        return "interrupted"
    if trial.state == TrialState.FAIL and is_not_run(trial):
        return "not_run"
    return trial.state.name.lower()


def trial_seconds(trial: FrozenTrial) -> float | None:
    """How long a finished trial ran; None while it runs or waits."""
    if trial.datetime_complete and trial.datetime_start:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return None


def counts(study: optuna.Study) -> dict[str, int]:
    """Number of trials in each state (complete, pruned, failed, running, waiting), of trials cut off by
    Ctrl-C or a kill (`interrupted`: run again, so not counted as failed), and of queued ones the budget
    left unstarted (`not_run`, see trial_state)."""
    found = dict.fromkeys(["complete", "pruned", "failed", "running", "waiting", "interrupted", "not_run"], 0)
    marked = cut_off_numbers(study)
    for trial in study.get_trials(deepcopy=False):
        state = trial_state(trial, marked)
        found["failed" if state == "fail" else state] += 1
    return found


def trials_csv(study: optuna.Study, space: SearchSpace) -> str:
    """The trials table: one row per trial, its state, score, epochs, time and the value of every
    searched knob it set (an off switch as the knob's off value)."""
    trials = study.get_trials(deepcopy=False)
    knobs = list(space.ranges)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRIAL_COLUMNS + tuple(knobs))
    marked = cut_off_numbers(study)
    for t in trials:
        score, seconds = trial_score(t), trial_seconds(t)
        writer.writerow([t.number, trial_state(t, marked), "" if score is None else score,
                         t.user_attrs.get(EPOCHS_RUN, 0), "" if seconds is None else seconds,
                         WARM_START in t.user_attrs,
                         bool(t.user_attrs.get(LOCAL)), t.user_attrs.get(CONFIRMS, ""),
                         t.user_attrs.get(ERROR) or t.user_attrs.get(STOPPED, "")]
                        + [_values(t, space).get(k, "") for k in knobs])
    return out.getvalue()


def trials_rows(study: optuna.Study) -> list[dict]:
    """Every trial as a JSON-ready row: number, state, score, epochs run, seconds, marks, error and the
    knob values it trained with."""
    rows, marked = [], cut_off_numbers(study)
    for t in study.get_trials(deepcopy=False):
        rows.append({"number": t.number, "state": trial_state(t, marked), "score": trial_score(t),
                     "epochs_run": t.user_attrs.get(EPOCHS_RUN, 0), "seconds": trial_seconds(t),
                     "warm_start": WARM_START in t.user_attrs, "local": bool(t.user_attrs.get(LOCAL)),
                     "confirms": t.user_attrs.get(CONFIRMS),
                     "error": t.user_attrs.get(ERROR) or t.user_attrs.get(STOPPED), "params": dict(t.params)})
    return rows


def _values(trial: FrozenTrial, space: SearchSpace) -> dict:
    """The knob values a trial trained with: its parameters, and knobs a queued recipe pinned outside their ranges."""
    return {**space.values_of(trial.params), **trial.user_attrs.get(OUTSIDE, {})}


def importance(study: optuna.Study, seed: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    """fANOVA importance of each searched knob and, summed, of each bucket; empty with too few trials.

    fANOVA scores the parameters every complete trial has; a knob that can be off is scored by
    its on/off switch (and its value, when every trial had it on), summed under the knob's name.
    """
    if not_scored(study):
        return {}, {}
    try:
        knobs = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    except (ValueError, RuntimeError) as error:  # e.g. no parameter shared by the complete trials
        log.warning("knob importance not computed: %s", error)
        return {}, {}
    by_knob: dict[str, float] = {}
    for name, value in knobs.items():
        by_knob[knob_of(name)] = by_knob.get(knob_of(name), 0.0) + value
    buckets: dict[str, float] = {}
    for name, value in by_knob.items():
        buckets[registry()[name].bucket] = buckets.get(registry()[name].bucket, 0.0) + value
    return _descending(by_knob), _descending(buckets)


def not_scored(study: optuna.Study) -> str | None:
    """Why knob importance cannot be scored yet, or None when it can."""
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if complete < MIN_COMPLETE:
        return (f"importance needs at least {MIN_COMPLETE} complete trials (fANOVA); this search has {complete}: "
                "give it a larger budget")
    return None


def _descending(scores: dict[str, float]) -> dict[str, float]:
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))
