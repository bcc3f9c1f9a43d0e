"""The never-worse rule, paired statistics, budgets held back for confirmation, and costly trials."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import FloatDistribution

import autorecipe
from autorecipe import Recipe
from autorecipe.budget import Budget, parse_budget
from autorecipe.searching.adoption import (CONFIRM_FOLDS, CONFIRM_SEEDS, Paired, RerunCost, confirmation_fits,
                                           confirmation_folds, held_back, judge, pack, paired_correctness,
                                           queue_confirmations, unpack)
from autorecipe.searching.attributes import (BASELINE, CONFIRM_SEED, CONFIRMS, EPOCH_SECONDS, EPOCHS_CHARGED,
                                             EPOCHS_RUN, STOPPED, VAL_CORRECT, VAL_IMAGES, WARM_PLAN, WARM_START,
                                             WORKER)
from autorecipe.searching import objective
from autorecipe.searching.objective import FIRST_SLOWER, SLOWER, TrialEpochs
from autorecipe.statistics import bootstrap_means, paired_bootstrap, paired_t_interval
from imagegen import sides

TINY = {"epochs": 3, "width": 0.125, "precision": "fp32", "batch_size": 32}


def test_pack_round_trips_per_image_correctness():
    for count in (1, 7, 8, 201):
        bits = np.random.default_rng(count).random(count) > 0.5
        assert (unpack(pack(bits)) == bits).all()


def test_the_paired_bootstrap_finds_a_real_gain_and_not_noise():
    rng = np.random.default_rng(0)
    base = rng.random((2, 400)) < 0.6
    better = base | (rng.random((2, 400)) < 0.25)  # right on a quarter of the images base gets wrong
    gain = paired_bootstrap(better, base)
    assert gain.above_zero and gain.low < gain.mean < gain.high and "seeds and images" in gain.method
    same = paired_bootstrap(base, base)
    assert (same.mean, same.low, same.high) == (0, 0, 0) and not same.above_zero
    noise = paired_bootstrap(rng.random((2, 400)) < 0.6, base)
    assert noise.low < 0 < noise.high
    assert "points" in str(gain) and "95%" in str(gain)
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap(base, base[:, :10])


def test_the_bootstrap_of_a_mean_over_tasks_averages_their_resamples():
    rng = np.random.default_rng(1)
    a, b = rng.random((3, 300)) < 0.7, rng.random((3, 300)) < 0.6
    means = bootstrap_means(a, b, resamples=500)
    assert means.shape == (500,) and abs(means.mean() - (a.astype(float) - b).mean()) < 0.02


def test_the_t_interval_is_over_seeds_and_widens_with_their_spread():
    first, second = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]]), np.zeros((3, 4))
    t = paired_t_interval(first, second)
    assert t.mean == pytest.approx(0.75) and t.low < 0.75 < t.high and "seeds" in t.method
    assert paired_t_interval(first[:1], second[:1]).method.endswith("images")


def _study_with(base_correct, candidate_correct, reruns=None, storage=None) -> optuna.Study:
    """A study holding a base trial and a candidate trial (and, optionally, their reruns with seed 1)."""
    study = optuna.create_study(direction="maximize", storage=storage)
    dist = {"x": FloatDistribution(0, 1)}

    def add(correct, value_of, attrs):
        study.add_trial(optuna.trial.create_trial(params={"x": value_of}, distributions=dist,
                                                  value=float(np.mean(correct)),
                                                  user_attrs={VAL_CORRECT: pack(correct), **attrs}))
    add(base_correct, 0.0, {BASELINE: True})
    add(candidate_correct, 0.5, {})
    for number, correct in (reruns or {}).items():
        add(correct, 0.0 if number == 0 else 0.5, {CONFIRMS: number, CONFIRM_SEED: 1,
                                                   **({BASELINE: True} if number == 0 else {})})
    return study


def test_the_rule_keeps_the_base_recipe_when_the_best_is_within_noise():
    rng = np.random.default_rng(2)
    base = rng.random(200) < 0.6
    candidate = base.copy()
    candidate[np.flatnonzero(~base)[:3]] = True  # three more images right: +1.5 points, within noise
    verdict = judge(_study_with(base, candidate))
    assert not verdict.adopted and verdict.chosen == 0 and verdict.candidate == 1
    assert verdict.gain.low <= 0 and "no better recipe found within the budget" in verdict.sentence()
    assert json.dumps(verdict.to_dict())


def test_the_rule_adopts_a_clear_gain_confirmed_with_another_seed():
    rng = np.random.default_rng(3)
    base = rng.random(200) < 0.5
    candidate = base | (rng.random(200) < 0.5)
    rerun_base, rerun_candidate = rng.random(200) < 0.5, rng.random(200) < 0.8
    verdict = judge(_study_with(base, candidate, {0: rerun_base, 1: rerun_candidate}))
    assert verdict.adopted and verdict.chosen == 1 and verdict.seeds == 1 and verdict.confirmed
    assert "beats the base recipe by +" in verdict.sentence() and "confirmation rerun" in verdict.sentence()


def test_the_reruns_alone_decide_not_the_winners_first_score():
    rng = np.random.default_rng(5)
    base = rng.random(200) < 0.5
    lucky = base | (rng.random(200) < 0.6)  # the first score: far ahead (the best of many on these images)
    rerun = rng.random(200) < 0.5  # on the rerun, no better than the base's
    verdict = judge(_study_with(base, lucky, {0: rerun.copy(), 1: rerun.copy()}))
    assert not verdict.adopted and verdict.gain.mean == 0 and verdict.confirmed


def test_without_room_for_a_rerun_the_verdict_is_unconfirmed_and_a_missing_rerun_adopts_nothing():
    rng = np.random.default_rng(6)
    base = rng.random(200) < 0.4
    better = base | (rng.random(200) < 0.5)
    unconfirmed = judge(_study_with(base, better))
    assert unconfirmed.adopted and not unconfirmed.confirmed and "unconfirmed" in unconfirmed.sentence()
    study = _study_with(base, better)
    study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
                                              state=optuna.trial.TrialState.FAIL,
                                              user_attrs={CONFIRMS: 1, CONFIRM_SEED: 1}))
    missing = judge(study)
    assert not missing.adopted and missing.missing and "could not be confirmed" in missing.sentence()


def test_confirmations_queue_the_candidate_and_the_base_once():
    rng = np.random.default_rng(4)
    base = rng.random(100) < 0.5
    study = _study_with(base, base | (rng.random(100) < 0.3))
    assert queue_confirmations(study, seed=0) == 2 * CONFIRM_SEEDS
    assert queue_confirmations(study, seed=0) == 0  # already waiting
    waiting = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    seeds = list(range(1, 1 + CONFIRM_SEEDS))  # the candidate's reruns first, then the base's, with the same seeds
    assert [(t.user_attrs[CONFIRMS], t.user_attrs[CONFIRM_SEED]) for t in waiting] == [(1, s) for s in seeds] + [
        (0, s) for s in seeds]
    assert [t.user_attrs.get(BASELINE, False) for t in waiting] == [False] * CONFIRM_SEEDS + [True] * CONFIRM_SEEDS
    no_candidate = _study_with(base, base & (rng.random(100) < 0.5))  # the best other recipe scored below the base
    assert queue_confirmations(no_candidate, seed=0) == 0 and "no other recipe" in judge(no_candidate).sentence()


def test_what_the_budget_left_queued_is_marked_not_run_and_queued_again_on_resume():
    import os
    import socket
    from autorecipe.searching.budgets import _started
    from autorecipe.searching.resume import drop_unrun
    from autorecipe.searching.results import counts, trial_state
    from autorecipe.searching.warm_start import queue_next
    rng = np.random.default_rng(5)
    base = rng.random(100) < 0.5
    storage = optuna.storages.InMemoryStorage()
    study = _study_with(base, base | (rng.random(100) < 0.3), storage=storage)
    other = study.ask()  # another live worker still runs a trial: it takes what is queued
    other.set_user_attr(WORKER, f"{socket.gethostname()}:{os.getppid()}")
    queue_confirmations(study, seed=0)
    assert drop_unrun(study, storage, out_of_time=False) == [] and counts(study)["waiting"] == 2 * CONFIRM_SEEDS
    study.tell(other, 0.1)
    dropped = drop_unrun(study, storage, out_of_time=False)  # the last worker out: nothing stays queued
    assert len(dropped) == 2 * CONFIRM_SEEDS and counts(study)["waiting"] == 0
    assert counts(study)["not_run"] == len(dropped) and counts(study)["failed"] == 0
    assert {trial_state(study.trials[n]) for n in dropped} == {"not_run"} and _started(study) == 3
    assert judge(study).missing  # not adopted on reruns that never ran
    assert queue_confirmations(study, seed=0) == 2 * CONFIRM_SEEDS  # a resume queues them again
    study.set_user_attr(WARM_PLAN, [{"params": {"x": 0.2}, "outside": {}, "baseline": False}])
    drop_unrun(study, storage, out_of_time=False)
    assert queue_next(study)  # ... and a planned recipe the budget left unrun
    assert study.trials[-1].user_attrs[WARM_START] == 0


def test_a_cut_off_recipe_queued_between_two_trials_of_a_live_worker_stays_queued_for_it():
    from autorecipe.searching.resume import drop_unrun, queue_again
    from autorecipe.searching.results import counts
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize")
    cut = study.ask({"x": FloatDistribution(0, 1)})
    queue_again(study, cut)  # a heartbeat another worker checked; it runs the recipe next
    study.tell(cut, state=optuna.trial.TrialState.FAIL)
    assert drop_unrun(study, storage, out_of_time=False) == [] and counts(study)["waiting"] == 1
    assert drop_unrun(study, storage, out_of_time=True) == [1] and counts(study)["not_run"] == 1


def test_a_trial_another_worker_has_just_taken_is_not_taken_for_cut_off_until_it_stays_unnamed():
    import datetime
    from autorecipe.searching.resume import UNNAMED_SECONDS, is_cut_off, requeue_cut_off
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize")
    taken = study.ask()  # its worker has not named itself yet
    requeue_cut_off(study, storage)  # another worker, starting with --resume
    assert study.trials[taken.number].state == optuna.trial.TrialState.RUNNING and len(study.trials) == 1
    stale = study.trials[taken.number]
    stale.datetime_start -= datetime.timedelta(seconds=UNNAMED_SECONDS + 1)
    assert is_cut_off(stale)  # never named: killed as it began


def test_searching_holds_back_the_confirmation_reruns_and_the_retrain():
    runs = 2 * CONFIRM_SEEDS
    held = held_back(parse_budget("80 epochs"), 8, None, confirming=False, retrain=True)
    assert held.epochs == runs * 8 and held.seconds is None and confirmation_fits(parse_budget("80 epochs"), 8, None)
    small = held_back(parse_budget("20 epochs"), 8, None, confirming=False, retrain=False)
    assert small.epochs is None and not confirmation_fits(parse_budget("20 epochs"), 8, None)
    timed = held_back(parse_budget("10m"), 8, 30.0, confirming=False, retrain=True)
    assert timed.seconds == (runs + 1) * 30.0
    assert held_back(parse_budget("10m"), 8, 30.0, confirming=True, retrain=True) == Budget()  # the reruns may use it all
    tight = held_back(parse_budget("2m"), 8, 30.0, confirming=False, retrain=True)  # no room for reruns:
    assert tight.seconds == 30.0 and not confirmation_fits(parse_budget("2m"), 8, 30.0)  # the retrain's only
    assert not confirmation_fits(parse_budget("10m, 80 epochs"), 8, None)  # a time limit needs a trial's time
    assert held_back(parse_budget("20 trials"), 8, None, confirming=False, retrain=False).trials == runs
    cost = RerunCost.cross_fitted(1800, 200)  # a rerun trains on and scores all 2,000 labelled images
    assert cost.epochs == pytest.approx(2000 / 1800) and cost.seconds == pytest.approx(2000 * 4 / 3 / (1800 + 200 / 3))
    shared = held_back(parse_budget("80 epochs, 1h"), 8, 30.0, confirming=False, retrain=False, cost=cost)
    assert shared.epochs == math.ceil(runs * cost.epochs * 8) and shared.seconds == pytest.approx(runs * cost.seconds * 30.0)
    enough = math.ceil(2 * runs * cost.epochs * 8)  # the reruns' epochs, and as many again for the trials
    assert confirmation_fits(parse_budget(f"{enough} epochs"), 8, None, cost=cost)
    assert not confirmation_fits(parse_budget(f"{enough - 1} epochs"), 8, None, cost=cost)


def test_confirmation_folds_score_every_labelled_image_once_stratified():
    labels = np.repeat(np.arange(4), [40, 20, 10, 1])
    folds = confirmation_folds(labels, seed=3)
    assert len(folds) == CONFIRM_FOLDS
    scored = np.concatenate([score for _, score in folds])
    assert sorted(scored) == list(range(len(labels)))
    for train, score in folds:
        assert not set(train) & set(score) and len(train) + len(score) == len(labels)
        assert abs((labels[score] == 0).sum() - 20) <= 1  # each part holds its share of every class
    same = confirmation_folds(labels, seed=3)
    assert all((a == c).all() and (b == d).all() for (a, b), (c, d) in zip(folds, same))  # paired: one split a seed


def test_reruns_on_more_images_than_the_first_scores_decide_and_round_trip():
    rng = np.random.default_rng(2)
    base, candidate = rng.random(50) < 0.6, rng.random(50) < 0.6
    rerun_base = rng.random(400) < 0.5
    rerun_candidate = rerun_base | (rng.random(400) < 0.3)  # clearly better on the 400 cross-fitted images
    study = _study_with(base, candidate, {0: rerun_base, 1: rerun_candidate})
    verdict = judge(study)
    assert verdict.adopted and verdict.confirmed and verdict.images == 400 and "over 400 images" in verdict.sentence()
    paired = paired_correctness(study)
    back = Paired.unpacked(paired.packed())
    assert (back.first[0] == candidate).all() and back.reruns[0].shape == (1, 400)
    assert back.pooled()[0].shape == (1, 450) and back.gain().mean == paired.gain().mean


class _RoomyClock:
    """A budget clock with room left."""

    def out_of_time(self):
        return False

    def out_of_epochs(self):
        return False


class _Owner:
    """What a trial's TrialEpochs needs of its trainer: a clock with room, 8 epochs, no epoch hook."""

    clock, max_epochs, on_epoch = _RoomyClock(), 8, None


def _study_with_a_base_trial() -> optuna.Study:
    """A study whose base recipe's trial took 10 s an epoch on host "here"."""
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5,
                                              user_attrs={BASELINE: True, EPOCH_SECONDS: 10.0, WORKER: "here:1"}))
    return study


def test_a_trial_far_slower_than_the_base_recipe_is_stopped_and_says_why():
    study = _study_with_a_base_trial()
    trial = study.ask()
    trial.set_user_attr(WORKER, "here:2")
    epochs = TrialEpochs(_Owner(), trial, report=False)
    assert epochs.on_epoch({"epoch": 1, "seconds": 100 * SLOWER}) is None  # a first epoch may compile
    assert epochs.on_epoch({"epoch": 2, "seconds": 9 * SLOWER}) is None
    reason = epochs.on_epoch({"epoch": 3, "seconds": 30 * SLOWER})
    assert reason and "slower an epoch than the base recipe" in reason and trial.user_attrs[STOPPED] == reason


def test_a_trial_far_slower_than_the_base_recipe_is_stopped_within_its_epoch(monkeypatch):
    study = _study_with_a_base_trial()
    now = [0.0]

    class Time:
        @staticmethod
        def perf_counter():
            return now[0]

    monkeypatch.setattr(objective, "time", Time)
    trial = study.ask()
    trial.set_user_attr(WORKER, "here:2")
    epochs = TrialEpochs(_Owner(), trial, report=False)
    epochs.on_start(8, 100, {})
    now[0] = 10 * (FIRST_SLOWER - 1)
    assert epochs.on_step() is None  # the first epoch may compile or warm up: up to FIRST_SLOWER times
    now[0] = 10 * FIRST_SLOWER + 1
    reason = epochs.on_step()
    assert reason and "within one epoch" in reason and trial.user_attrs[STOPPED] == reason

    trial = study.ask()
    trial.set_user_attr(WORKER, "here:3")
    epochs = TrialEpochs(_Owner(), trial, report=False)
    now[0] = 0.0
    epochs.on_start(8, 100, {})
    now[0] = 20.0
    assert epochs.on_epoch({"epoch": 1, "seconds": 20.0}) is None
    now[0] = 20.0 + 10 * SLOWER - 1
    assert epochs.on_step() is None
    now[0] = 20.0 + 10 * SLOWER + 1
    assert "within one epoch" in epochs.on_step()  # after the first epoch, SLOWER times is enough


def test_a_stop_asked_for_at_a_step_ends_training_there(tmp_path):
    from autorecipe.training.callbacks import Callback

    class StopAtThirdStep(Callback):
        steps = 0

        def on_step(self):
            self.steps += 1
            return "enough" if self.steps == 3 else None

    stopper = StopAtThirdStep()
    x, y = sides(200, seed=1)
    run = autorecipe.fit((x, y), epochs=5, overrides={"batch_size": 16}, callbacks=[stopper], progress=False,
                         out=tmp_path)
    assert stopper.steps == 3 and run.metrics["status"] == "stopped" and run.metrics["epochs_run"] == 1


def test_a_search_from_the_base_recipe_alone_plans_no_other_recipe(tmp_path):
    x, y = sides(160, seed=2)
    result = autorecipe.search((x, y), budget="3 trials", epochs=1, sampler="random", pruner="none",
                               warm_start="base", library=False, retrain=False, out=tmp_path, progress=False)
    rows = (tmp_path / "trials.csv").read_text().splitlines()[1:]
    warm = [row.split(",")[5] for row in rows]
    assert warm[0] == "True" and set(warm[1:]) <= {"False"}
    assert result.verdict is not None  # the base recipe is a trial: the never-worse rule judges


@pytest.fixture(scope="module")
def sides_data():
    return sides(360, seed=0)


def test_the_search_turns_off_flips_that_change_the_label_and_beats_the_base(sides_data, tmp_path, monkeypatch):
    from autorecipe.searching import objective
    folds_of = []  # (labels, seed) of every cross-fitted rerun: the candidate's and the base's must be the same
    monkeypatch.setattr(objective, "confirmation_folds",
                        lambda labels, seed: folds_of.append((labels.copy(), seed)) or confirmation_folds(labels, seed))
    base = Recipe().with_values({**TINY, "hflip": True})  # a base recipe that flips: wrong for this data
    result = autorecipe.search(sides_data, recipe=base, space={"hflip": [True, False], "label_smoothing": [0.0, 0.2]},
                               buckets=["regularization"], budget="8 trials", library=False, retrain=False,
                               out=tmp_path / "s", device="cpu", progress=False)
    verdict = result.verdict
    assert verdict.adopted and verdict.gain.above_zero and result.recipe.regularization.hflip is False
    assert verdict.confirmed and verdict.seeds == CONFIRM_SEEDS
    reruns = [t for t in result.study.trials if CONFIRMS in t.user_attrs]
    assert len(reruns) == 2 * CONFIRM_SEEDS
    train = next(t for t in result.study.trials if t.number == verdict.baseline).user_attrs[VAL_IMAGES]
    train = len(sides_data[1]) - train  # a trial's training images: the labelled ones less its validation split
    for rerun in reruns:  # cross-fitted: every labelled image scored, each fold charged by its share of images
        assert rerun.user_attrs[VAL_IMAGES] == verdict.images == len(sides_data[1])
        assert rerun.user_attrs[EPOCHS_RUN] == CONFIRM_FOLDS * TINY["epochs"]
        assert rerun.user_attrs[EPOCHS_CHARGED] == pytest.approx(TINY["epochs"] * len(sides_data[1]) / train)
    seeds = sorted({seed for _, seed in folds_of})  # the candidate and the base cut the same halves at each seed
    assert len(folds_of) == 2 * CONFIRM_SEEDS and len(seeds) == CONFIRM_SEEDS
    for seed in seeds:
        first, second = [labels for labels, s in folds_of if s == seed]
        assert (first == second).all()
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["adoption"]["adopted"] and summary["adoption"]["gain"]["low"] > 0
    assert summary["epochs_used"] == pytest.approx(sum(t.user_attrs.get(EPOCHS_CHARGED, 0) for t in result.study.trials),
                                                   abs=0.01)
    from autorecipe.searching.search import trial_recipe
    assert trial_recipe(tmp_path / "s", verdict.candidate) == result.recipe


def test_the_search_returns_the_base_recipe_when_nothing_beats_it_by_more_than_noise(sides_data, tmp_path):
    base = Recipe().with_values({**TINY, "hflip": False})
    result = autorecipe.search(sides_data, recipe=base, space={"label_smoothing": [0.1, 0.101]},
                               buckets=["regularization"], budget="6 trials", library=False, retrain=False,
                               out=tmp_path / "s", device="cpu", progress=False)
    assert not result.verdict.adopted and result.best_trial == result.verdict.baseline == 0
    assert result.recipe.regularization.label_smoothing == 0.1
    assert "no better recipe found within the budget" in result.verdict.sentence()


def test_the_shipped_library_loads_and_every_recipe_in_it_is_valid():
    from autorecipe.searching.library import SHIPPED, SHIPPED_FORMAT, read_shipped
    header = json.loads(SHIPPED.read_text().splitlines()[0])
    assert header["library_format"] == SHIPPED_FORMAT and header["built_by"] == "benchmarks/search_suite.py"
    entries = read_shipped()
    assert len(entries) == header["entries"] and all(e.shipped for e in entries)
    for entry in entries:
        Recipe.from_dict(entry.recipe)


def test_a_search_tries_the_shipped_library_after_the_base_recipe(sides_data, tmp_path, monkeypatch):
    from autorecipe.data.dataset import load_data
    from autorecipe.searching import library
    from autorecipe.searching.library import SHIPPED_FORMAT, MetaFeatures
    features = MetaFeatures.of(load_data(sides_data).subset(np.arange(324)))
    shipped = tmp_path / "shipped.jsonl"
    entry = {"dataset": features.__dict__, "recipe": Recipe().with_values({"label_smoothing": 0.17}).to_dict(),
             "score": 0.9, "description": "search suite: sides", "date": "2026-12-01"}
    shipped.write_text(json.dumps({"library_format": SHIPPED_FORMAT, "built_by": "benchmarks/search_suite.py",
                                   "entries": 1}) + "\n" + json.dumps(entry) + "\n")
    monkeypatch.setattr(library, "SHIPPED", shipped)
    base = Recipe().with_values({**TINY, "hflip": False})
    options = dict(recipe=base, space={"label_smoothing": [0.0, 0.2]}, buckets=["regularization"], budget="2 trials",
                   library=tmp_path / "mine", retrain=False, device="cpu", progress=False)
    result = autorecipe.search(sides_data, out=tmp_path / "s", **options)
    assert result.study.trials[1].params["label_smoothing"] == 0.17
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["library_used"] == ["search suite: sides (shipped)"]
    without = autorecipe.search(sides_data, out=tmp_path / "t", shipped_library=False, **options)
    assert without.study.trials[1].params.get("label_smoothing") != 0.17


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 60), st.integers(0, 2**32 - 1))
def test_a_paired_interval_holds_its_mean_and_turns_over_when_the_pair_is_swapped(seeds, images, draw):
    rng = np.random.default_rng(draw)
    first, second = rng.random((seeds, images)) < 0.6, rng.random((seeds, images)) < 0.5
    forward, backward = paired_bootstrap(first, second, resamples=300), paired_bootstrap(second, first, resamples=300)
    assert forward.low <= forward.mean + 1e-12 and forward.mean <= forward.high + 1e-12
    assert forward.mean == pytest.approx(-backward.mean)
    assert forward.low == pytest.approx(-backward.high) and forward.high == pytest.approx(-backward.low)
    assert -1 <= forward.low <= forward.high <= 1


def test_a_queued_rerun_runs_when_the_epochs_are_spent_and_another_workers_rerun_is_waited_for_a_while():
    import os
    import socket
    from types import SimpleNamespace
    from autorecipe.searching.adoption import reruns_elsewhere
    from autorecipe.searching.budgets import BudgetClock
    from autorecipe.searching.loop import _keep_going, _wait_for_reruns
    study = _study_with(np.ones(10, bool), np.ones(10, bool))
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5, user_attrs={EPOCHS_RUN: 40}))
    clock = BudgetClock(parse_budget("40 epochs"), study)
    trainer = SimpleNamespace(max_epochs=8, folds=None, rerun_cost=RerunCost())
    assert not _keep_going(study, trainer, clock, confirming=False, retrain=False)  # the epochs are spent ...
    study.enqueue_trial({"x": 0.0}, user_attrs={CONFIRMS: 0, CONFIRM_SEED: 1, BASELINE: True})
    assert _keep_going(study, trainer, clock, confirming=True, retrain=False)  # ... but a queued rerun still runs
    running = study.ask()
    running.set_user_attr(CONFIRMS, 1)
    running.set_user_attr(WORKER, f"{socket.gethostname()}:{os.getppid()}")  # a live process: another worker
    assert reruns_elsewhere(study)
    storage = study._storage
    assert _wait_for_reruns(study, storage, trainer, clock, waited=0.0)  # another worker's rerun: wait for it ...
    assert not _wait_for_reruns(study, storage, trainer, clock, waited=1e9)  # ... but not for ever
    running.set_user_attr(WORKER, f"{socket.gethostname()}:{2 ** 22 + 12345}")  # a process that is gone
    assert not reruns_elsewhere(study)
    assert _wait_for_reruns(study, storage, trainer, clock, waited=0.0)  # its rerun is failed, queued again here
    assert study.trials[running.number].state == optuna.trial.TrialState.FAIL
    assert study.trials[-1].user_attrs[CONFIRMS] == 1 and study.trials[-1].state == optuna.trial.TrialState.WAITING
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    study.enqueue_trial({"x": 0.3})  # a recipe a kill cut off, queued again before the reruns: the budget holds
    study.enqueue_trial({"x": 0.0}, user_attrs={CONFIRMS: 0, CONFIRM_SEED: 1, BASELINE: True})
    assert not _keep_going(study, trainer, clock, confirming=True, retrain=False)


def test_two_reruns_on_the_same_images_narrow_the_interval_of_one():
    rng = np.random.default_rng(7)
    base = rng.random((2, 2000)) < 0.55  # two reruns of each recipe, scored on the same 2,000 images
    candidate = rng.random((2, 2000)) < 0.56
    both = Paired((candidate[0], base[0]), (candidate, base)).gain()
    for row in (0, 1):
        one = Paired((candidate[0], base[0]), (candidate[row:row + 1], base[row:row + 1])).gain()
        assert both.high - both.low < 0.85 * (one.high - one.low)
    assert both.mean == pytest.approx(float((candidate.mean(axis=0) - base.mean(axis=0)).mean()))
    assert both.method == "paired bootstrap over images"


def test_a_queued_rerun_may_spend_the_time_held_for_the_retrain(monkeypatch):
    import time
    from types import SimpleNamespace
    from autorecipe.searching import loop as search
    from autorecipe.searching.budgets import BudgetClock
    study = _study_with(np.ones(10, bool), np.ones(10, bool))
    monkeypatch.setattr(search, "_trial_cost", lambda study, trainer: (8, 30.0))  # a trial: 8 epochs, 30 s
    clock = BudgetClock(parse_budget("10m"), study)
    trainer = SimpleNamespace(max_epochs=8, folds=None, rerun_cost=RerunCost())
    clock.deadline = time.monotonic() + 20  # less left than the retrain's share (a trial's time)
    assert not search._keep_going(study, trainer, clock, confirming=False, retrain=True)
    study.enqueue_trial({"x": 0.0}, user_attrs={CONFIRMS: 0, CONFIRM_SEED: 1, BASELINE: True})
    assert search._keep_going(study, trainer, clock, confirming=True, retrain=True)  # the rerun runs ...
    clock.deadline = time.monotonic()
    assert not search._keep_going(study, trainer, clock, confirming=True, retrain=True)  # ... within the budget


def test_a_cross_fitted_rerun_trains_with_the_batch_size_of_a_trial(monkeypatch):
    from autorecipe.data.dataset import ImageData
    from autorecipe.optimization.schedule import batch_size
    from autorecipe.searching import objective

    class Seen(Exception):
        pass

    def train(recipe, train_data, val_data, **_):
        raise Seen(recipe.optimization.batch_size, len(train_data), len(val_data))

    monkeypatch.setattr(objective, "train", train)
    labels = np.arange(1000) % 2
    images = ImageData(np.zeros((1000, 1, 8, 8), np.uint8), np.arange(1000), labels, ["a", "b"])
    train_data, val_data = images.subset(np.arange(900)), images.subset(np.arange(900, 1000))
    trial = optuna.create_study().ask()
    trial.set_user_attr(CONFIRM_SEED, 1)
    trainer = objective.Trainer(None, Recipe(), None, "cpu", None, 8, cross_fit=True)
    with pytest.raises(Seen) as seen:
        trainer._cross_fit(trial, Recipe(), train_data, val_data)
    batch, trained, scored = seen.value.args
    assert (trained, scored) == (500, 500) and batch == batch_size(Recipe().optimization, 900) != batch_size(
        Recipe().optimization, 500)  # the automatic batch of a trial's 900 images, not of a fold's 500


def test_a_recipe_queued_again_after_a_kill_runs_with_the_confirmation_reruns():
    from types import SimpleNamespace
    from autorecipe.searching.attributes import INTERRUPTED, NOT_RUN, RERUN_OF
    from autorecipe.searching.budgets import BudgetClock
    from autorecipe.searching.resume import queue_again
    from autorecipe.searching.loop import _rerun_fits, _wait_for_reruns
    study = _study_with(np.ones(10, bool), np.ones(10, bool))
    storage = study._storage
    trainer = SimpleNamespace(max_epochs=8, folds=None, rerun_cost=RerunCost())
    clock = BudgetClock(parse_budget("5 trials"), study)
    cut = study.ask({"x": FloatDistribution(0, 1)})  # cut off by a kill once the searching had ended
    cut.set_user_attr(INTERRUPTED, True)
    study.tell(cut, state=optuna.trial.TrialState.FAIL)
    queue_again(study, cut)
    assert _wait_for_reruns(study, storage, trainer, clock, waited=0.0)  # no confirmation rerun, yet it waits here
    assert _rerun_fits(study, storage, trainer, clock, retrain=False)  # and runs in the trial its trial held
    again = study.ask()
    assert again.user_attrs[RERUN_OF] == cut.number
    queue_again(study, again)  # a rerun cut off in turn names the first trial cut off
    assert study.get_trials(states=(optuna.trial.TrialState.WAITING,))[0].user_attrs[RERUN_OF] == cut.number
    study.tell(again, state=optuna.trial.TrialState.FAIL)

    epochs = BudgetClock(parse_budget("16 epochs"), study)  # the cut-off trials' epochs spent the budget
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5, user_attrs={EPOCHS_RUN: 16}))
    assert _rerun_fits(study, storage, trainer, epochs, retrain=False)  # the recipe queued again still runs
    study.tell(study.ask(), 0.5)
    study.enqueue_trial({"x": 0.3})  # a recipe queued, not a rerun: the budget does not hold it
    study.enqueue_trial({"x": 0.0}, user_attrs={CONFIRMS: 0, CONFIRM_SEED: 1, BASELINE: True})
    assert _rerun_fits(study, storage, trainer, epochs, retrain=False)  # the confirmation rerun behind it runs ...
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [CONFIRMS in t.user_attrs for t in waiting] == [True]
    dropped = [t for t in study.trials if t.user_attrs.get(NOT_RUN)]
    assert [t.number for t in dropped] == [waiting[0].number - 1]  # ... the other recipe, marked not run, steps aside
