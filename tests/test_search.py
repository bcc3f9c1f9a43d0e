"""Recipe search: the space from the knobs, budgets, warm start, library, resume after a kill, errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState

import autorecipe
from autorecipe import AutorecipeError, Recipe
from autorecipe.budget import Budget, parse_budget
from autorecipe.cli import main
from autorecipe.data.dataset import load_data
from autorecipe.data.split import load_splits
from autorecipe.knobs import GRID_POINTS, Choice, Uniform, is_active, registry
from autorecipe.searching.library import MetaFeatures, nearest_recipes, read_library, record
from autorecipe.searching.local import MAX_CHANGES, step
from autorecipe.searching.samplers import SAMPLERS, grid, make_sampler
from autorecipe.searching.search import load_study
from autorecipe.searching.space import RESOURCE_KNOB, SearchSpace, build_space
from autorecipe.searching.warm_start import GENERAL, LR_STEPS, plan, queue_next, strong_recipes, what_trains
from autorecipe.training.setup import resolve_lr

TINY = {"epochs": 2, "width": 0.125, "precision": "fp32", "batch_size": 32}  # fixed: seconds per trial on the CPU
SMALL_SPACE = {"label_smoothing": [0.0, 0.3], "weight_decay": [1e-4, 1e-2], "hflip": [True, False]}


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    """300 of the built-in digits as an .npz file (8x8 gray)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    path = tmp_path_factory.mktemp("tiny") / "digits300.npz"
    np.savez(path, x=(digits.images[:300] * 15).astype(np.uint8), y=digits.target[:300])
    return path


def small_search(data, out, **kwargs):
    options = dict(budget="4 trials", overrides=TINY, space=SMALL_SPACE, buckets=["regularization"],
                   out=out, device="cpu", retrain=False)
    return autorecipe.search(data, **{**options, **kwargs})


@pytest.fixture(scope="module")
def searched(tiny_npz, tmp_path_factory):
    """A finished small search with retraining, and its private library."""
    library = tmp_path_factory.mktemp("search-library")
    out = tmp_path_factory.mktemp("searched") / "study"
    return small_search(tiny_npz, out, retrain=True, library=library), library


def test_space_comes_from_the_knob_declarations():
    searchable = {n for n, k in registry().items() if k.search is not None and n != RESOURCE_KNOB}
    assert set(build_space().ranges) == searchable
    regularization = build_space(["regularization"])
    assert {registry()[n].bucket for n in regularization.ranges} == {"regularization"}
    some = sorted(regularization.ranges)[0]
    assert some not in build_space(["regularization"], fixed=[some]).ranges


def test_a_space_file_narrows_fixes_and_adds_ranges(tmp_path):
    (tmp_path / "space.yaml").write_text("regularization:\n  label_smoothing: [0.05, 0.1]\n"
                                         "hflip: false\nmomentum: [0.85, 0.95]\n")
    space = build_space(["regularization"], tmp_path / "space.yaml")
    assert (space.ranges["label_smoothing"].low, space.ranges["label_smoothing"].high) == (0.05, 0.1)
    assert "hflip" not in space.ranges and "momentum" in space.ranges
    listed = build_space(["optimization"], {"batch_size": [32, 64, 1024], "grad_clip": [0.5, 2.0]})
    assert listed.ranges["batch_size"] == Choice((32, 64, 1024))
    assert listed.ranges["grad_clip"].off == 0.0  # a narrowed technique can still be switched off


def test_conditional_knobs_are_sampled_only_when_active():
    space = build_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        recipe = space.sample(trial, Recipe())
        values = {name: recipe.get(name) for name in registry()}
        for name, knob in space.knobs().items():
            asked = name in trial.params or f"{name}_on" in trial.params  # a switch is asked first
            assert asked == is_active(knob, values)
        study.tell(trial, 0.0)


def test_a_technique_that_can_be_off_is_searched_on_and_off():
    space = build_space(["regularization"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = []
    for _ in range(20):
        trial = study.ask()
        alpha = space.sample(trial, Recipe()).regularization.mixup_alpha
        assert ("mixup_alpha" in trial.params) == trial.params["mixup_alpha_on"] == (alpha != 0.0)
        values.append(alpha)
        study.tell(trial, 0.0)
    assert 0.0 in values and any(0.1 <= v <= 1.0 for v in values)
    assert space.params_of(Recipe())[0]["mixup_alpha_on"] is False
    params, outside = space.params_of(Recipe().with_values({"mixup_alpha": 0.5, "cutmix_alpha": 5.0, "hflip": True}))
    assert params["mixup_alpha_on"] and params["mixup_alpha"] == 0.5 and outside == {"cutmix_alpha": 5.0}
    assert grid(SearchSpace({"mixup_alpha": space.ranges["mixup_alpha"]}))["mixup_alpha_on"] == [True, False]
    assert space.values_of({"mixup_alpha_on": False, "hflip": True}) == {"mixup_alpha": 0.0, "hflip": True}
    assert space.values_of({"mixup_alpha_on": True, "mixup_alpha": 0.3}) == {"mixup_alpha": 0.3}


@pytest.mark.parametrize("entries, message", [
    ({"label_smoothin": [0.0, 0.1]}, "did you mean label_smoothing"),
    ({"label_smoothing": [0.3, 0.1]}, "low must be below high"),
    ({"label_smoothing": [0.0, 5.0]}, "expected a number from 0 to 1"),
    ({"label_smoothing": [0.0, 0.1, 0.2]}, "takes [low, high]"),
    ({"epochs": [5, 10]}, "set it with --epochs"),
    ({"hflip": []}, "an empty list"),
])
def test_bad_space_entries_are_clear_errors(entries, message):
    with pytest.raises(AutorecipeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_space(space_file=entries)


def test_a_bad_space_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("- width\n- lr\n")
    with pytest.raises(AutorecipeError, match="expected a mapping of knob: range"):
        build_space(space_file=tmp_path / "bad.yaml")
    with pytest.raises(AutorecipeError, match="cannot read space file"):
        build_space(space_file=tmp_path / "missing.yaml")


def test_budgets_parse_and_impossible_ones_are_errors():
    assert parse_budget("1h30m, 40 trials") == Budget(trials=40, seconds=5400.0)
    assert parse_budget("300 epochs") == Budget(epochs=300)
    for text, message in (("0 trials", "not possible"), ("soon", "cannot read"), ("20", "say what 20 counts")):
        with pytest.raises(AutorecipeError, match=message):
            parse_budget(text)
    with pytest.raises(AutorecipeError, match="less than one trial at full budget"):
        parse_budget("3 epochs").check(epochs_per_trial=5)


def test_every_sampler_can_be_chosen():
    space = SearchSpace({"label_smoothing": Uniform(0.0, 0.3), "hflip": Choice((True, False))})
    for name in SAMPLERS:
        assert isinstance(make_sampler(name, space, seed=0), optuna.samplers.BaseSampler)
    assert len(grid(space)["label_smoothing"]) == GRID_POINTS
    with pytest.raises(AutorecipeError, match="valid samplers: tpe, random"):
        make_sampler("annealing", space, seed=0)
    huge = SearchSpace({f"k{i}": Uniform(0.0, 1.0) for i in range(30)})
    with pytest.raises(AutorecipeError, match="too many"):
        make_sampler("grid", huge, seed=0)


def test_a_small_search_writes_its_outputs(searched):
    result, _ = searched
    files = {p.name for p in result.path.iterdir()}
    assert files >= {"best_recipe.yaml", "trials.csv", "importance.json", "summary.json", "search.log",
                     "study.journal", "final"}
    assert Recipe.load(result.path / "best_recipe.yaml") == result.recipe
    assert result.recipe.architecture.width == TINY["width"]  # a fixed knob stays fixed
    rows = (result.path / "trials.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and sum(result.counts.values()) == 4
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["best_score"] == result.score and set(summary["trials"]) >= {"complete", "pruned", "failed"}
    assert (result.path / "final" / "model.safetensors").exists()
    assert autorecipe.load(result.path / "final").recipe == resolve_lr(result.recipe).with_values(
        {"batch_size": result.run.metrics["batch_size"], "class_balance": "none"})  # auto, on balanced digits


def test_the_default_recipe_runs_first(searched):
    result, _ = searched
    first = result.study.trials[0]
    chosen = {**first.params, **first.user_attrs["outside_range"]}
    knobs = {name for name in chosen if not name.endswith("_on")}
    default = Recipe().with_values({"hflip": False})  # flips auto: off for handwritten digits
    assert {name: chosen[name] for name in knobs} == {name: default.get(name) for name in knobs}
    assert first.user_attrs["warm_start"] == 0 and first.user_attrs["baseline"] and chosen["mixup_alpha_on"] is False
    assert set(chosen) >= {"label_smoothing", "weight_decay", "hflip"}


def test_the_strong_recipes_of_the_family_are_queued_after_the_base_recipe_one_at_a_time():
    space, base = build_space(), Recipe()
    study = optuna.create_study()
    expected = [base] + strong_recipes(base)
    same = what_trains(space, base, torch.device("cpu"), 1000)
    assert plan(study, space, base, [base] + strong_recipes(base), same) == 1 + len(GENERAL) + len(LR_STEPS)
    asked = []
    for _ in expected:
        assert queue_next(study) and not queue_next(study)  # one waiting trial at a time
        trial = study.ask()
        asked.append(space.sample(trial, base))
        study.tell(trial, 0.5)
    assert asked == expected and not queue_next(study)
    assert study.trials[0].user_attrs["baseline"] and not any("baseline" in t.user_attrs for t in study.trials[1:])
    vit = strong_recipes(Recipe().with_values({"model": "vit_tiny"}))
    assert vit[0].optimization.optimizer == "adamw" and len(vit) == len(GENERAL) + len(LR_STEPS) + 1
    halves = [r.optimization.batch_size for r in strong_recipes(base, 1800) if r.optimization.batch_size]
    assert halves == [32]  # the automatic batch for 1,800 images is 64
    assert not [r for r in strong_recipes(base, 300) if r.optimization.batch_size]  # 16 would halve below the floor


def test_a_local_step_changes_one_to_three_knobs_by_a_small_move():
    space, base = build_space(), Recipe()
    for seed in range(20):
        stepped = step(base, space, np.random.default_rng(seed))
        changed = [name for name in space.ranges if stepped.get(name) != base.get(name)]
        assert 1 <= len(changed) <= MAX_CHANGES
        assert all(space.ranges[name].accepts(stepped.get(name)) for name in changed)
    rng = np.random.default_rng(0)
    near = [space.ranges["label_smoothing"].moved(0.1, rng) for _ in range(50)]
    assert all(abs(v - 0.1) <= 0.2 * 0.3 + 1e-12 for v in near) and len(set(near)) > 40
    assert space.ranges["mixup_alpha"].moved(0.0, rng) >= 0.1  # off: switched on
    lr_only = SearchSpace({"lr": space.ranges["lr"]})
    stepped = [step(Recipe(), lr_only, np.random.default_rng(seed)).optimization.lr for seed in range(20)]
    assert all(0.4 * 2e4 ** -0.2 <= lr <= 0.4 * 2e4 ** 0.2 for lr in stepped)  # near the automatic 0.4
    assert space.ranges["hflip"].moved(True, rng) is False


def test_a_local_step_stops_early_only_when_behind_the_incumbents_curve_beyond_noise():
    from optuna.distributions import FloatDistribution
    from autorecipe.searching.pruning import LocalStepPruner, keeps_up
    # two accuracies of 0.5 on 500 images: the standard error of their difference is 0.0316
    assert keeps_up(0.45, {2: 0.5}, 2, 500) and not keeps_up(0.43, {2: 0.5}, 2, 500)
    assert keeps_up(0.0, {2: 0.5}, 3, 500)  # no reference at that epoch
    class Never(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return False

    study = optuna.create_study(direction="maximize", pruner=LocalStepPruner(Never()))
    study.add_trial(optuna.trial.create_trial(
        params={"label_smoothing": 0.1}, distributions={"label_smoothing": FloatDistribution(0.0, 0.3)},
        value=0.6, intermediate_values={1: 0.3, 2: 0.5, 8: 0.6}))
    for _ in range(2):
        study.enqueue_trial({"label_smoothing": 0.12}, user_attrs={"local": True, "val_images": 500})
    close_step, far_step, plain_trial = study.ask(), study.ask(), study.ask()
    close_step.report(0.45, 2)
    far_step.report(0.40, 2)
    plain_trial.report(0.0, 2)
    assert not close_step.should_prune() and far_step.should_prune()
    assert not plain_trial.should_prune()  # not a local step: the wrapped pruner decides


def test_after_the_warm_start_local_steps_run_then_alternate_with_tpe(tiny_npz, tmp_path, monkeypatch):
    import autorecipe.searching.local as local_search
    monkeypatch.setattr(local_search, "TPE_FROM", 7)
    result = small_search(tiny_npz, tmp_path / "local", budget="14 trials", library=False)
    trials = [t for t in result.study.trials if "confirms" not in t.user_attrs]
    warm = [t for t in trials if "warm_start" in t.user_attrs]
    local = [t.number for t in trials if t.user_attrs.get("local")]
    assert len(warm) < 7 and local[:7 - len(warm)] == list(range(len(warm), 7))  # every trial up to TPE_FROM
    after = [n for n in local if n >= 7]
    assert after and all(b - a == 2 for a, b in zip(after, after[1:]))  # then every other trial
    rows = (result.path / "trials.csv").read_text().splitlines()
    assert rows[0].split(",")[6] == "local" and rows[1 + local[0]].split(",")[6] == "True"
    plain = small_search(tiny_npz, tmp_path / "random", budget="6 trials", library=False, sampler="random")
    assert not [t for t in plain.study.trials if t.user_attrs.get("local")]  # another sampler runs as it is


def test_the_library_records_a_study_and_warm_starts_the_next(searched, tiny_npz, tmp_path):
    result, library = searched
    entries = read_library(library)
    assert len(entries) == 1 and entries[0].score == result.score
    assert 250 < entries[0].dataset.images < 300 and entries[0].dataset.classes == 10
    # plant a better recipe for this very dataset: the next study tries it first
    planted = result.recipe.with_values({"label_smoothing": 0.27, "hflip": False})
    same = load_splits(str(tiny_npz), None, None, Recipe(), 0.1, 0, None, None).train
    record(library, same, planted, 0.99)
    again = small_search(tiny_npz, tmp_path / "again", budget="2 trials", library=library)
    assert again.study.trials[0].user_attrs["baseline"]  # the base recipe first, then the library's
    assert again.study.trials[1].params["label_smoothing"] == 0.27


def test_nearest_recipes_prefers_similar_datasets(tmp_path):
    digits = load_data("digits")
    big = MetaFeatures(50_000, 100, 224, 3, 1.0)
    assert MetaFeatures.of(digits).distance(big) > MetaFeatures.of(digits).distance(MetaFeatures.of(digits))
    record(tmp_path, digits, Recipe().with_values({"label_smoothing": 0.2}), 0.9)
    nearest = nearest_recipes(tmp_path, digits.subset(np.arange(1000)), shipped=False)
    assert [r.regularization.label_smoothing for r in nearest] == [0.2]


def test_a_library_entry_carries_what_its_search_changed_but_not_the_size_colour_batch_or_precision(tmp_path):
    digits = load_data("digits")
    searched_from = Recipe().with_values({"image_size": 64, "channels": "gray", "width": 0.5})
    chosen = searched_from.with_values({"label_smoothing": 0.2, "precision": "fp32", "batch_size": 16})
    record(tmp_path, digits, chosen, 0.9, base=searched_from)
    assert read_library(tmp_path)[0].changes == {"label_smoothing": 0.2, "precision": "fp32", "batch_size": 16}
    base = Recipe().with_values({"image_size": 32, "channels": "rgb"})
    (recipe,) = nearest_recipes(tmp_path, digits, shipped=False, base=base)
    assert recipe == base.with_values({"label_smoothing": 0.2})  # width was the other search's base, not a change
    record(tmp_path, digits.subset(np.arange(900)), base.with_values({"precision": "bf16"}), 0.95, base=base)
    assert len(nearest_recipes(tmp_path, digits, shipped=False, base=base)) == 1  # an entry that changes nothing here is passed over


def test_the_warm_start_plans_no_recipe_that_trains_as_an_earlier_one():
    from autorecipe.searching.warm_start import trained_as
    space, base = build_space(), Recipe()
    cpu, train = torch.device("cpu"), 1800
    resolved = trained_as(base, cpu, train)
    assert resolved.optimization.batch_size > 0 and resolved.optimization.lr > 0
    explicit = base.with_values({"batch_size": resolved.optimization.batch_size, "lr": resolved.optimization.lr,
                                 "precision": resolved.optimization.precision})
    smoothed = base.with_values({"label_smoothing": 0.2})
    study = optuna.create_study(direction="maximize")
    assert plan(study, space, base, [explicit, smoothed, smoothed], what_trains(space, base, cpu, train)) == 2


def test_an_epoch_budget_stops_the_search(tiny_npz, tmp_path):
    result = small_search(tiny_npz, tmp_path / "s", budget="5 epochs", library=False)
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert 5 <= summary["epochs_used"] <= 6 and summary["epochs_used"] == sum(
        t.user_attrs["epochs_run"] for t in result.study.trials)


def test_a_time_budget_stops_the_search_and_still_leaves_a_best_recipe(tiny_npz, tmp_path):
    start = time.monotonic()
    result = small_search(tiny_npz, tmp_path / "s", budget="1s, 50 trials", overrides={**TINY, "epochs": 8},
                          library=False)
    assert time.monotonic() - start < 60 and sum(result.counts.values()) < 50
    assert (tmp_path / "s" / "best_recipe.yaml").exists() and result.score > 0


def test_a_time_budget_holds_with_the_retrain(tiny_npz, tmp_path):
    start = time.monotonic()
    result = small_search(tiny_npz, tmp_path / "s", budget="25s", overrides={**TINY, "epochs": 4}, library=False,
                          retrain=True)
    spent = time.monotonic() - start
    assert result.run is not None and spent < 25 + 10  # an epoch past the limit at most, and the loading
    assert result.verdict is not None
    assert not [t for t in result.study.trials if t.state == TrialState.WAITING]  # nothing left queued


def test_the_best_recipe_can_be_retrained_on_training_and_validation_images(tiny_npz, tmp_path):
    result = small_search(tiny_npz, tmp_path / "all", budget="1 trials", retrain=True, retrain_on_all=True,
                          library=False)
    assert result.run.metrics["num_train"] == 300 and result.run.metrics["val_accuracy"] is None
    with pytest.raises(AutorecipeError, match="drop --val"):
        small_search(tiny_npz, tmp_path / "val", val=str(tiny_npz), retrain=True, retrain_on_all=True)
    with pytest.raises(AutorecipeError, match="validation fraction"):
        small_search(tiny_npz, tmp_path / "none", val_fraction=0)


def test_a_diverged_trial_is_failed_and_the_search_goes_on(tiny_npz, tmp_path, monkeypatch):
    import autorecipe.searching.objective as objective
    import autorecipe.training.setup as loop
    real_loss, real_train, poison = loop.training_loss, objective.train, {"on": True}

    def poisoned(section, logits, targets, class_weights=None):
        loss = real_loss(section, logits, targets, class_weights)
        return loss * float("nan") if poison["on"] else loss

    def first_trial_diverges(*args, **kwargs):
        try:
            return real_train(*args, **kwargs)
        finally:
            poison["on"] = False

    monkeypatch.setattr(loop, "training_loss", poisoned)
    monkeypatch.setattr(objective, "train", first_trial_diverges)
    result = small_search(tiny_npz, tmp_path / "s", budget="2 trials", library=False)
    assert result.counts["failed"] == 1 and result.counts["complete"] + result.counts["pruned"] == 1
    assert "diverged" in result.study.trials[0].user_attrs["error"]


def test_cross_validation_reports_folds_as_steps(tiny_npz, tmp_path):
    result = small_search(tiny_npz, tmp_path / "s", budget="2 trials", cv=2, library=False)
    first = result.study.trials[0]
    assert sorted(first.intermediate_values) == [0, 1] and first.user_attrs["epochs_run"] == 2 * TINY["epochs"]
    assert first.value == pytest.approx(np.mean(first.user_attrs["fold_scores"]))


def test_a_search_folder_is_not_overwritten_and_resume_needs_one(tiny_npz, searched, tmp_path):
    result, _ = searched
    with pytest.raises(AutorecipeError, match="already holds a search"):
        small_search(tiny_npz, result.path)
    with pytest.raises(AutorecipeError, match="no search to resume"):
        small_search(tiny_npz, tmp_path / "nothing", resume=True)


def test_a_search_whose_data_does_not_load_leaves_no_folder(tmp_path):
    one_class = tmp_path / "one.npz"
    np.savez(one_class, x=np.zeros((20, 8, 8), np.uint8), y=np.zeros(20, int))
    with pytest.raises(AutorecipeError, match="class"):
        small_search(one_class, tmp_path / "runs" / "study")
    assert not (tmp_path / "runs").exists()


def test_trials_show_their_changes_from_the_default_recipe_and_importance_is_by_knob():
    from autorecipe.searching.display import changes_text
    assert changes_text({"mixup_alpha_on": False, "cutmix_alpha_on": True, "cutmix_alpha": 0.5, "hflip": False,
                         "weight_decay_on": False, "label_smoothing": 0.1}) \
        == "cutmix_alpha=0.5 hflip=False weight_decay=off"
    assert changes_text({"mixup_alpha_on": False, "hflip": True}, Recipe().with_values({"hflip": True})) \
        == "the default recipe"
    from autorecipe.searching.results import importance
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(16):
        trial = study.ask()
        on = trial.suggest_categorical("mixup_alpha_on", [True, False])
        if on:
            trial.suggest_float("mixup_alpha", 0.1, 1.0)
        study.tell(trial, trial.suggest_float("label_smoothing", 0.0, 0.3) + (0.5 if on else 0.0))
    knobs, buckets = importance(study)
    assert list(knobs) == ["mixup_alpha", "label_smoothing"]  # scored by its switch, named by the knob
    assert buckets == {"regularization": pytest.approx(1.0)}


def test_show_study_prints_the_trials(searched, capsys):
    result, _ = searched
    assert main(["show-study", str(result.path)]) == 0
    shown = capsys.readouterr().out
    assert "complete" in shown and f"{100 * result.score:.2f}%" in shown
    assert main(["show-study", str(result.path / "final")]) == 2


def test_show_study_json_lists_every_trial(searched, capsys):
    result, _ = searched
    capsys.readouterr()
    assert main(["show-study", str(result.path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["number"] for row in rows] == [t.number for t in result.study.trials]
    best = rows[result.best_trial]
    assert best["score"] == pytest.approx(result.score) and best["state"] in ("complete", "pruned")
    assert set(best) >= {"epochs_run", "seconds", "warm_start", "local", "error", "params"}


def test_search_takes_trials_time_model_and_test_as_fit_does(tiny_npz, tmp_path, capsys):
    out = tmp_path / "trials"
    assert main(["search", str(tiny_npz), "--trials", "2", "--time-budget", "1h", "--epochs", "2", "--model", "fastnet",
                 "--set", "width=0.125", "--buckets", "regularization,architecture", "--test", str(tiny_npz),
                 "--no-library", "--quiet", "--device", "cpu", "--out", str(out)]) == 0
    settings = json.loads((out / "search.json").read_text())
    assert settings["budget"] == "2 trials, 3600s" and "model" in settings["fixed"]
    assert sum(1 for t in load_study(out).trials if t.state.is_finished()) == 2
    assert all(t.params.get("model", "fastnet") == "fastnet" for t in load_study(out).trials)
    assert Recipe.load(out / "best_recipe.yaml").architecture.model == "fastnet"
    assert "test_accuracy" in json.loads((out / "final" / "metrics.json").read_text())
    printed = capsys.readouterr().out
    assert "retrained test accuracy" in printed and "against the base recipe" in printed


def search_process(data, out, budget: str) -> subprocess.Popen:
    """`autorecipe search` over the regularization bucket, in another process."""
    command = [sys.executable, "-m", "autorecipe", "search", str(data), "--budget", budget,
               "--out", str(out), "--quiet", "--no-retrain", "--no-library", "--device", "cpu",
               "--buckets", "regularization", "--epochs", "3"]
    for knob, value in TINY.items():
        if knob != "epochs":  # the trial length is --epochs
            command += ["--set", f"{knob}={value}"]
    return subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until(worker: subprocess.Popen, out, ready) -> None:
    """Wait until the study the worker searches in `out` is `ready`; the worker must still be running."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.2)
        if (out / "search.json").exists() and ready(load_study(out)):
            break
    assert worker.poll() is None, "the search ended too soon"


def test_a_killed_search_resumes_without_losing_or_repeating_trials(tiny_npz, tmp_path):
    out = tmp_path / "killed"
    worker = search_process(tiny_npz, out, "5 trials")
    try:
        wait_until(worker, out, lambda study: len(_done(study)) >= 2)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
    done_before = {t.number: t.params for t in _done(load_study(out))}
    assert len(done_before) >= 2
    resumed = autorecipe.search(str(tiny_npz), out=out, resume=True, device="cpu", retrain=False, library=False)
    trials = resumed.study.trials
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert all(trials[n].params == params and trials[n].state != TrialState.FAIL for n, params in done_before.items())
    assert _finished(resumed.study) == 5 and len(done) == 5 - resumed.counts["failed"]
    assert resumed.counts["interrupted"] == _interrupted(trials)
    searched = [t for t in done if "confirms" not in t.user_attrs]  # confirmation reruns repeat by design
    assert len({json.dumps(t.params, sort_keys=True) for t in searched}) == len(searched)  # nothing run twice
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def test_a_second_worker_joins_a_running_search(tiny_npz, tmp_path):
    out = tmp_path / "shared"
    first = search_process(tiny_npz, out, "8 trials")
    try:
        wait_until(first, out, lambda study: study.get_trials(states=(TrialState.RUNNING,)))
        second = autorecipe.search(str(tiny_npz), out=out, resume=True, device="cpu", retrain=False, library=False)
        assert first.wait(timeout=300) == 0
    finally:
        if first.poll() is None:
            first.kill()
    trials = load_study(out).trials
    assert not [t for t in trials if "interrupted" in t.user_attrs]  # the live worker's trial was left to it
    shown = [(t.number, t.state.name, t.user_attrs.get("worker"), t.user_attrs.get("confirms")) for t in trials]
    assert len({t.user_attrs["worker"] for t in trials}) == 2 and 8 <= _finished(second.study) <= 9, shown
    searched = [t for t in trials if "confirms" not in t.user_attrs]  # confirmation reruns repeat by design
    recipes = [json.dumps(t.params, sort_keys=True) for t in searched]
    assert len(set(recipes)) == len(searched), recipes  # no recipe twice


def _done(study) -> list:
    return [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def _finished(study) -> int:
    return sum(1 for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
               and "interrupted" not in t.user_attrs)


def _interrupted(trials) -> int:
    return sum(1 for t in trials if "interrupted" in t.user_attrs)


def test_the_cli_searches_into_any_optuna_storage_url(tiny_npz, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    status = main(["search", str(tiny_npz), "--budget", "1 trials", "--out", str(tmp_path / "s"), "--storage", url,
                   "--study-name", "cli-test", "--epochs", "2", "--buckets", "regularization", "--no-retrain",
                   "--no-library", "--device", "cpu", "--set", "width=0.125", "--set", "batch_size=32"])
    assert status == 0 and "best recipe" in capsys.readouterr().out
    assert not (tmp_path / "s" / "study.journal").exists()
    stored = optuna.load_study(study_name="cli-test", storage=url)
    assert len(stored.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 1
    assert main(["search", str(tiny_npz), "--budget", "0 trials", "--out", str(tmp_path / "t")]) == 2
    assert "0 trials is not possible" in capsys.readouterr().err


def test_python_search_shows_its_trials_by_default(tiny_npz, tmp_path, capsys):
    small_search(tiny_npz, tmp_path / "shown", budget="1 trial", library=False)
    assert "study shown: " in capsys.readouterr().err  # the trials run and the ones queued
    small_search(tiny_npz, tmp_path / "silent", budget="1 trial", library=False, progress=False)
    assert "study silent" not in capsys.readouterr().err


def interrupt_at(monkeypatch, trial_number: int) -> None:
    """Ctrl-C in the first epoch of trial `trial_number`."""
    import autorecipe.searching.objective as objective
    real = objective.TrialEpochs.on_epoch

    def on_epoch(self, record):
        if self.trial.number == trial_number:
            raise KeyboardInterrupt
        return real(self, record)

    monkeypatch.setattr(objective.TrialEpochs, "on_epoch", on_epoch)


SEARCH_ARGS = ["--epochs", "2", "--set", "width=0.125", "--buckets", "regularization", "--no-retrain", "--no-library",
               "--quiet", "--device", "cpu"]


def test_ctrl_c_ends_a_search_quietly_with_a_one_line_summary(tiny_npz, tmp_path, monkeypatch, capfd):
    interrupt_at(monkeypatch, 2)
    out = tmp_path / "cut"
    assert main(["search", str(tiny_npz), "--trials", "5", "--out", str(out), *SEARCH_ARGS]) == 130
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err and "KeyboardInterrupt" not in printed.err
    assert all(line.startswith("warning: validation holds 30 images") for line in printed.err.splitlines())
    (line,) = printed.out.strip().splitlines()
    counted = re.match(r"search interrupted: (\d+) complete, (\d+) pruned, 0 failed trials", line)
    assert counted and int(counted[1]) + int(counted[2]) == 2 and "resume it with --resume" in line
    assert main(["show-study", str(out)]) == 0
    assert "interrupted" in capfd.readouterr().out


def test_ctrl_c_in_the_first_trial_says_so(tiny_npz, tmp_path, monkeypatch, capfd):
    interrupt_at(monkeypatch, 0)
    out = tmp_path / "first"
    assert main(["search", str(tiny_npz), "--trials", "3", "--out", str(out), *SEARCH_ARGS]) == 130
    err = capfd.readouterr().err
    assert "interrupted before a trial was scored" in err and "--resume" in err and "Traceback" not in err
    assert (out / "trials.csv").read_text().splitlines()[1].split(",")[1] == "interrupted"


def test_one_worker_of_a_shared_search_retrains_the_chosen_recipe(tiny_npz, tmp_path):
    import socket
    out = tmp_path / "claimed"
    out.mkdir()
    (out / "final.claim").write_text(f"{socket.gethostname()}:{os.getppid()}")  # a live worker has claimed it
    first = small_search(tiny_npz, out, budget="2 trials", library=False, progress=False, retrain=True)
    assert first.run is None and not (out / "final").exists()
    assert "another worker" in (out / "search.log").read_text()
    (out / "final.claim").write_text(f"{socket.gethostname()}:999999999")  # ... and died
    resumed = small_search(tiny_npz, out, budget="2 trials", library=False, progress=False, retrain=True,
                           resume=True)
    assert resumed.run is not None and (out / "final" / "model.safetensors").is_file()


def test_ctrl_c_in_a_trials_setup_runs_its_recipe_again_on_resume(tiny_npz, tmp_path, monkeypatch):
    import autorecipe.searching.objective as objective
    real = objective.Trainer.__call__

    def setup_interrupted(self, trial):
        if trial.number == 1:
            self.data = lambda recipe: (_ for _ in ()).throw(KeyboardInterrupt())  # while its images load
        return real(self, trial)
    monkeypatch.setattr(objective.Trainer, "__call__", setup_interrupted)
    first = small_search(tiny_npz, tmp_path / "setup", budget="3 trials", library=False, progress=False,
                         sampler="random", pruner="none")
    assert first.status == "interrupted"
    cut = first.study.trials[1]
    assert _interrupted([cut]) == 1
    monkeypatch.setattr(objective.Trainer, "__call__", real)
    resumed = small_search(tiny_npz, tmp_path / "setup", budget="3 trials", library=False, progress=False,
                           sampler="random", pruner="none", resume=True)
    again = [t for t in resumed.study.trials[2:] if t.params == cut.params]
    assert again and again[0].state == TrialState.COMPLETE and resumed.counts["interrupted"] == 1


def test_search_log_lines_name_their_trial_and_empty_importance_says_why(tiny_npz, tmp_path):
    result = small_search(tiny_npz, tmp_path / "log", budget="2 trials", library=False, progress=False)
    epochs = [line for line in (result.path / "search.log").read_text().splitlines() if " epoch {" in line]
    assert epochs and all("trial " in line.split(" epoch {")[0] for line in epochs)
    saved = json.loads((result.path / "importance.json").read_text())
    assert saved["knobs"] == {} and "at least 3 complete trials" in saved["note"]
    assert result.importance_note == saved["note"]


def test_a_search_says_up_front_which_library_recipes_go_first(searched, tiny_npz, tmp_path, capsys):
    _, library = searched
    capsys.readouterr()
    small_search(tiny_npz, tmp_path / "again", budget="1 trial", library=library)
    err = capsys.readouterr().err
    assert "recipe library" in err and "digits300.npz" in err and "--no-library" in err
    first = small_search(tiny_npz, tmp_path / "a", budget="2 trials", library=False)
    second = small_search(tiny_npz, tmp_path / "b", budget="2 trials", library=False)
    assert "recipe library" not in capsys.readouterr().err
    assert [t.params for t in first.study.trials] == [t.params for t in second.study.trials]


def test_resume_keeps_every_setting_of_the_first_call(tiny_npz, tmp_path, isolated_library):
    out = tmp_path / "kept"
    small_search(tiny_npz, out, budget="1 trial", retrain=False, library=False, progress=False)
    resumed = autorecipe.search(str(tiny_npz), out=out, resume=True, budget="2 trials", device="cpu", progress=False)
    assert resumed.status == "completed" and resumed.run is None and not (out / "final").exists()
    assert not (isolated_library / "library.jsonl").exists()  # --no-library too


def test_precisions_that_only_cost_time_are_left_out_of_the_space():
    from autorecipe.searching.costs import slow_precisions
    timings = {"fp32": 0.01, "bf16": 0.012, "fp16": 0.5}
    slow = slow_precisions(torch.device("cpu"), ("fp32", "bf16", "fp16"), seconds=lambda d, p: timings[p])
    assert slow == {"fp16": "50x slower than fp32 on cpu (emulated, not native)"}
    unsupported = slow_precisions(torch.device("cpu"), ("fp32", "bf16"),
                                  seconds=lambda d, p: None if p == "bf16" else 0.01)
    assert unsupported == {"bf16": "not supported on cpu"}


def test_a_new_search_probes_the_device_once_and_a_resume_keeps_its_space(tiny_npz, tmp_path, monkeypatch, capsys):
    import importlib
    search_module = importlib.import_module("autorecipe.searching.search")  # the package's `search` is the verb
    monkeypatch.setattr(search_module, "slow_precisions", lambda device, options: {"fp16": "75x slower than fp32"})
    out = tmp_path / "probed"
    space = {**SMALL_SPACE, "precision": ["fp32", "bf16", "fp16"], "compile": [False, True]}
    unfixed = {k: v for k, v in TINY.items() if k != "precision"}
    small_search(tiny_npz, out, budget="3 trials", library=False, space=space, overrides=unfixed)
    err = capsys.readouterr().err
    assert "precision fp16 left out of the search: 75x slower than fp32" in err
    assert "compile left out of the search: on cpu compiling costs more time than it saves" in err
    saved = json.loads((out / "search.json").read_text())["space"]
    assert saved["precision"] == ["fp32", "bf16"] and saved["compile"] == [False]
    assert "precision fp16 left out" in (out / "search.log").read_text()

    def no_probe(device, options):
        raise AssertionError("a resumed search must keep its space, not probe again")

    monkeypatch.setattr(search_module, "slow_precisions", no_probe)
    resumed = autorecipe.search(str(tiny_npz), out=out, resume=True, budget="4 trials", device="cpu", progress=False)
    assert all(t.params.get("precision") != "fp16" for t in resumed.study.trials)


def test_a_local_step_is_never_a_recipe_already_tried_or_queued(tmp_path):
    from autorecipe.searching.local import propose
    from autorecipe.searching.storage import open_storage
    space, base = SearchSpace({"hflip": Choice((True, False))}), Recipe()
    same = what_trains(space, base, torch.device("cpu"), 1000)
    study = optuna.create_study(direction="maximize", storage=open_storage(None, tmp_path))  # a journal, as searched
    flips = optuna.distributions.CategoricalDistribution([True, False])
    study.add_trial(optuna.trial.create_trial(params={"hflip": True}, distributions={"hflip": flips}, value=0.6))
    assert propose(study, space, base, 0, same)  # the one step there is: flips off
    assert study.trials[-1].system_attrs["fixed_params"] == {"hflip": False}
    running = study.ask()  # taken by a worker, not yet reported: its parameters are only the queued ones
    assert running.number == 1 and not study.trials[1].params
    assert not propose(study, space, base, 1, same)  # every step from the incumbent is taken
    study.tell(running, 0.5)
    assert not propose(study, space, base, 2, same)


def test_two_workers_draw_their_own_local_steps():
    from autorecipe.searching.local import propose
    space, base = build_space(), Recipe()
    same = what_trains(space, base, torch.device("cpu"), 1000)
    params, outside = space.params_of(base)
    drawn = []
    for seed in (0, 1):
        study = optuna.create_study(direction="maximize")
        study.enqueue_trial(params, user_attrs={"outside_range": outside})
        study.optimize(lambda trial: 0.5 if space.sample(trial, base) == base else 0.0, n_trials=1)
        assert study.trials[0].value == 0.5  # the incumbent: the base recipe
        assert propose(study, space, base, seed, same)
        drawn.append(study.trials[-1].system_attrs["fixed_params"])
    assert drawn[0] != drawn[1]


def test_a_search_narrows_image_sizes_to_half_to_twice_the_images_own(tmp_path):
    from imagegen import sides
    x, y = sides(120, size=16, seed=3)
    autorecipe.search((x, y), budget="2 trials", epochs=1, library=False, retrain=False, out=tmp_path / "a",
                      progress=False)
    assert json.loads((tmp_path / "a" / "search.json").read_text())["space"]["image_size"] == [8, 32]
    assert "image sizes searched from 8 to 32 px" in (tmp_path / "a" / "search.log").read_text()
    autorecipe.search((x, y), budget="2 trials", epochs=1, library=False, retrain=False, out=tmp_path / "b",
                      space={"image_size": [16, 20]}, progress=False)
    assert json.loads((tmp_path / "b" / "search.json").read_text())["space"]["image_size"] == [16, 20]
