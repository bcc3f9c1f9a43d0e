"""Folders written by autorecipe 0.1.0 (tests/fixtures, made by make_fixtures.py at commit dc495af)
still load, resume and read; and today's code trains what 0.1.0 trained."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState

import autorecipe
from autorecipe.cli import main
from autorecipe.data.dataset import load_data
from autorecipe.data.split import stratified_split
from autorecipe.recipe import Recipe
from autorecipe.searching.library import nearest_recipes, read_library
from autorecipe.searching.search import load_study

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = {"width": 0.125, "epochs": 2}  # the recipe make_fixtures.py trained (with 0.1.0's flips, always on)


def test_a_run_folder_of_0_1_0_loads_and_scores_as_it_did():
    run = autorecipe.load(FIXTURES / "run")
    saved = json.loads((FIXTURES / "run" / "metrics.json").read_text())
    digits = load_data("digits")
    _, val_index = stratified_split(digits.y, 0.1, 0)
    scored = run.evaluate(digits.subset(val_index), device="cpu")
    assert scored["count"] == saved["num_val"]
    assert scored["accuracy"] == pytest.approx(saved["val_accuracy"], abs=1e-9)
    assert run.predict(digits.images()[:2].transpose(0, 2, 3, 1), top_k=2)[0][0][0] in run.classes
    assert len(run.history) == saved["epochs_run"]


def test_a_search_folder_of_0_1_0_resumes(tmp_path, capsys):
    out = tmp_path / "search"
    shutil.copytree(FIXTURES / "search", out)
    before = {t.number: t.params for t in load_study(out).trials if t.state.is_finished()}
    assert len(before) == 2
    resumed = autorecipe.search("digits", out=out, resume=True, budget="3 trials", device="cpu", retrain=False,
                                library=False)
    trials = resumed.study.trials
    assert all(trials[n].params == params for n, params in before.items())  # nothing lost
    assert [t.state.is_finished() for t in trials[:3]] == [True] * 3  # a warm-start recipe may still wait
    assert trials[2].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert main(["show-study", str(out)]) == 0 and f"{len(trials)} trials" in capsys.readouterr().out


def test_a_recipe_library_of_0_1_0_reads():
    entries = read_library(FIXTURES / "library")
    assert len(entries) == 1 and entries[0].dataset.classes == 10
    digits = load_data("digits")
    (recipe,) = nearest_recipes(FIXTURES / "library", digits, shipped=False)
    assert recipe.architecture.width == 0.125 and recipe.optimization.epochs == 2
    stored = Recipe.from_dict(read_library(FIXTURES / "library")[0].recipe)
    assert (stored.data.image_size, stored.data.channels) != (recipe.data.image_size, recipe.data.channels)
    assert (recipe.data.image_size, recipe.data.channels) == (Recipe().data.image_size, Recipe().data.channels)


def test_the_same_recipe_and_seed_train_what_0_1_0_trained(tmp_path):
    """The training wing changed no figure: the fixture's history, epoch by epoch."""
    run = autorecipe.fit("digits", overrides={**SMALL, "hflip": True}, out=tmp_path / "run", seed=0, device="cpu")
    if run.metrics["precision"] != json.loads((FIXTURES / "run" / "metrics.json").read_text())["precision"]:
        pytest.skip("this machine trains in another precision than the one that wrote the fixture")
    old = list(csv.DictReader((FIXTURES / "run" / "history.csv").open()))
    new = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))  # may hold columns 0.1.0 did not write
    assert len(new) == len(old)
    for old_row, new_row in zip(old, new):
        for name, value in old_row.items():
            if name not in ("images_per_second", "seconds"):
                assert float(new_row[name]) == pytest.approx(float(value), rel=1e-5), name
    assert np.isclose(run.metrics["val_accuracy"],
                      json.loads((FIXTURES / "run" / "metrics.json").read_text())["val_accuracy"])
