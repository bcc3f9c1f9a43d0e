"""Ablation: arms built from the baselines (the chosen bucket only), the effects' math on known cells, and
ablate end to end on digits (paired seeds, resume per cell, refusals, the command line)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import autorecipe
from autorecipe import Recipe
from autorecipe.ablation.arms import FULL, distinct, plan_arms
from autorecipe.ablation.effects import ArmScore, interaction_effect, path_effects
from autorecipe.cli import main
from autorecipe.errors import AutorecipeError
from autorecipe.knobs import bucket_knobs

CHANGED = {"label_smoothing": 0.2, "weight_decay": 0.001, "warmup": 0.1, "width": 0.25, "semi_supervised": "none",
           "class_balance": "none"}


def test_each_arm_resets_only_its_buckets_to_their_baselines():
    recipe = Recipe().with_values(CHANGED)
    arms, idle = plan_arms(recipe, knobs="regularization")
    by_name = {arm.name: arm for arm in arms}
    assert idle == ["data"]  # every data knob at its baseline: no arm
    without = by_name["without regularization"].recipe
    for name, knob in bucket_knobs("regularization").items():
        assert without.get(name) == knob.baseline
    for bucket in ("optimization", "architecture", "data"):
        assert getattr(without, bucket) == getattr(recipe, bucket)
    assert by_name["without label_smoothing"].recipe.changes_from(recipe) == {"label_smoothing": 0.0}
    assert {"without weight_decay", "without translate"} <= set(by_name)
    baseline = by_name["baseline"].recipe
    assert baseline.changes_from(Recipe().switched_off("regularization").switched_off("optimization")
                                 .switched_off("architecture").with_values({"semi_supervised": "none",
                                                                            "class_balance": "none"})) == {}
    path = [arm.name for arm in arms if arm.kind == "path"]
    assert path == ["baseline + optimization", "baseline + optimization + regularization"]
    assert by_name["baseline + optimization"].recipe.optimization == recipe.optimization
    assert by_name["baseline + optimization"].recipe.regularization == baseline.regularization


def test_arms_that_train_the_same_recipe_are_one_run_and_bad_plans_are_refused():
    recipe = Recipe().with_values({"label_smoothing": 0.2, "semi_supervised": "none",
                                 "class_balance": "none"})  # and the default's optimization
    arms, _ = plan_arms(recipe, interaction=("regularization", "optimization"))
    runs = distinct(arms)
    assert runs["without regularization and optimization"] == "baseline"
    with pytest.raises(AutorecipeError, match="name each bucket once"):
        plan_arms(recipe, order=("data", "data", "optimization", "architecture"))
    with pytest.raises(AutorecipeError, match="architecture has nothing to ablate"):
        plan_arms(recipe, interaction="architecture,regularization")
    with pytest.raises(AutorecipeError, match="not a bucket"):
        plan_arms(recipe, knobs="regularisation")


def _cells(correct: dict[str, list[str]]) -> dict:
    return {(arm, seed): {"correct": bits, "val_accuracy": bits.count("1") / len(bits)}
            for arm, rows in correct.items() for seed, bits in enumerate(rows)}


def test_interval_and_interaction_math_on_known_cells():
    score = ArmScore("full", "full", (0.80, 0.82, 0.84))
    low, high = score.interval()
    assert score.mean == pytest.approx(0.82) and score.std == pytest.approx(0.02)
    assert (high - low) / 2 == pytest.approx(4.302653 * 0.02 / np.sqrt(3), rel=1e-5)  # t(0.975, 2)

    recipe = Recipe().with_values({"label_smoothing": 0.2, "width": 0.25, "semi_supervised": "none",
                                 "class_balance": "none"})
    arms, _ = plan_arms(recipe, interaction=("optimization", "regularization"))
    runs = distinct(arms)
    # full right on 8 of 10 images; each bucket alone removed costs 2; both removed cost 3 (they overlap by 1)
    cells = _cells({FULL: ["1111111100"] * 2, "without optimization": ["1111110000"] * 2,
                    "without regularization": ["0011111100"] * 2, "without architecture": ["1111100000"] * 2,
                    "baseline": ["0000000000"] * 2, "without optimization and regularization": ["1111100000"] * 2,
                    "baseline + optimization": ["1100000000"] * 2})  # + regularization: without architecture
    effect = interaction_effect(("optimization", "regularization"), arms, runs, cells, [0, 1])
    assert effect.bootstrap.mean == pytest.approx((0.6 + 0.6) - (0.8 + 0.5))  # -0.1: they overlap
    steps = path_effects(arms, runs, cells, [0, 1])
    assert [s.name for s in steps] == ["+ optimization", "+ regularization", "+ architecture"]
    assert [round(s.t.mean, 6) for s in steps] == [0.2, 0.3, 0.3]  # the waterfall sums to full - baseline
    assert "helps" in steps[0].verdict() or "cannot be told" in steps[0].verdict()


def test_ablate_runs_paired_seeds_resumes_per_cell_and_refuses_a_different_plan(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    Recipe().with_values({"semi_supervised": "none"}).save(recipe)  # the default: architecture at its baselines
    plans, cells = [], []
    result = autorecipe.ablate(recipe, "digits", seeds=2, budget="1 epochs", out=tmp_path / "ab", device="cpu",
                               on_plan=lambda arms, fits, text: plans.append(fits),
                               on_cell=lambda cell, n, total: cells.append(cell))
    # full, baseline, without optimization, without regularization, baseline + optimization (the interaction
    # of the two is the baseline recipe: no fit of its own); two seeds each
    assert plans == [8, 0] and len(cells) == 8
    assert {c["seed"] for c in cells} == {0, 1}
    assert [e.name for e in result.buckets] == ["optimization", "regularization"]
    assert result.interaction is not None and result.idle == ["data", "architecture"]
    assert any(line.startswith("regularization: ") and "points [" in line for line in result.verdicts())
    summary = json.loads((tmp_path / "ab" / "summary.json").read_text())
    assert {a["name"] for a in summary["arms"]} >= {"full", "baseline", "without regularization"}
    assert summary["nothing_to_ablate"] == ["data", "architecture"]

    lines = (tmp_path / "ab" / "cells.jsonl").read_text().splitlines()
    (tmp_path / "ab" / "cells.jsonl").write_text("\n".join(lines[:-1]) + "\n{\"arm\": \"fu")  # killed mid-write
    cells.clear()
    again = autorecipe.ablate(recipe, "digits", seeds=2, budget="1 epochs", out=tmp_path / "ab", device="cpu",
                              resume=True, on_cell=lambda cell, n, total: cells.append(cell))
    assert len(cells) == 1  # only the cell whose line was lost
    assert again.scores["full"].accuracies == result.scores["full"].accuracies
    with pytest.raises(AutorecipeError, match="differs in seeds"):
        autorecipe.ablate(recipe, "digits", seeds=3, budget="1 epochs", out=tmp_path / "ab", resume=True)
    with pytest.raises(AutorecipeError, match="holds an ablation already"):
        autorecipe.ablate(recipe, "digits", seeds=2, budget="1 epochs", out=tmp_path / "ab")
    with pytest.raises(AutorecipeError, match="nothing to ablate"):
        autorecipe.ablate(Recipe().switched_off("regularization").switched_off("optimization"), "digits",
                          out=tmp_path / "none")


def test_ablate_command_prints_the_table_and_a_verdict_a_bucket(tmp_path, capsys):
    autorecipe.fit("digits", overrides={"epochs": 1}, out=tmp_path / "run", device="cpu",
                   progress=False)
    code = main(["ablate", str(tmp_path / "run"), "digits", "--seeds", "1", "--budget", "1 epochs",
                 "--out", str(tmp_path / "ab"), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0
    assert "fit(s) to run" in captured.err and "[1/" in captured.err
    assert "optimization: " in captured.out and "regularization: " in captured.out
    assert "data: nothing to ablate" in captured.out
    html = (tmp_path / "ab" / "report.html").read_text()  # the command ends with the ablation's report
    assert "<h2>Ablation</h2>" in html and 'alt="waterfall"' in html and "without regularization" in html
    assert "data: nothing to ablate" in html
    assert "report" in json.loads((tmp_path / "ab" / "summary.json").read_text())


def test_compare_varies_one_knob_at_a_time_against_the_recipes_own_value(tmp_path, capsys):
    from autorecipe.ablation.compare import parse_vary
    assert parse_vary(["activation=relu,gelu", "label_smoothing=0,0.2"]) == {"activation": ["relu", "gelu"],
                                                                             "label_smoothing": [0, 0.2]}
    with pytest.raises(AutorecipeError, match="did you mean activation"):
        parse_vary(["activaton=relu,gelu"])
    with pytest.raises(AutorecipeError, match="expected knob=value,value"):
        parse_vary(["activation"])
    recipe = tmp_path / "recipe.yaml"
    Recipe().with_values({"semi_supervised": "none"}).save(recipe)
    with pytest.raises(AutorecipeError, match="label_smoothing"):
        autorecipe.compare(recipe, "digits", vary={"label_smoothing": [0.1, 7]}, out=tmp_path / "bad")

    code = main(["compare", str(recipe), "digits", "--vary", "label_smoothing=0.1,0.3", "--seeds", "1",
                 "--budget", "1 epochs", "--out", str(tmp_path / "cmp"), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0 and "2 fit(s) to run" in captured.err  # 0.1 is the recipe's own: its fit is the reference
    assert "label_smoothing" in captured.out and "0.3" in captured.out
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert [(v["value"], v["difference"] is None) for v in summary["variants"]] == [(0.1, True), (0.3, False)]
