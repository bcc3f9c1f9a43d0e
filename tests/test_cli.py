"""The command line: fit/evaluate/predict output and files, error messages and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from autorecipe import AutorecipeError, Recipe
from autorecipe.cli import main


def test_fit_writes_files_and_prints_a_table(tmp_path, capsys):
    code = main(["fit", "digits", "--epochs", "1", "--set", "width=0.25", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    printed = capsys.readouterr()
    assert "validation accuracy" in printed.out and str(tmp_path) in printed.out
    assert "1,618 images, 10 classes, 8x8 gray" in printed.err
    assert {"model.safetensors", "recipe.yaml", "classes.json", "history.csv", "metrics.json"} <= set(os.listdir(tmp_path))
    assert Recipe.load(tmp_path / "recipe.yaml").optimization.lr == 0.4  # the automatic lr, resolved


def test_fit_without_quiet_shows_progress_and_the_final_table(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["fit", str(image_folder), "--epochs", "1", "--set", "width=0.25", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "epoch   1/1  loss" in printed.err and "img/s" in printed.err  # the progress reporter's epoch line
    table = printed.out.replace("\n", " ")
    assert "autorecipe fit" in table
    for row in ("status", "completed", "best epoch", "1 of 1", "validation accuracy", "throughput", "device"):
        assert row in table
    assert f"saved to {out}" in printed.out.replace("\n", "")
    assert (out / "model.safetensors").exists()


def test_fit_with_a_recipe_file_trains_and_records_it(image_folder, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("architecture:\n  width: 0.25\nregularization:\n  label_smoothing: 0.3\n"
                      "optimization:\n  epochs: 1\n")
    out = tmp_path / "run"
    assert main(["fit", str(image_folder), "--recipe", str(recipe), "--out", str(out), "--quiet"]) == 0
    saved = Recipe.load(out / "recipe.yaml")
    assert (saved.architecture.width, saved.regularization.label_smoothing, saved.optimization.epochs) == (0.25, 0.3, 1)
    assert saved.architecture.model == Recipe().architecture.model  # knobs the file leaves out keep their defaults
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 1


def test_evaluate_and_predict_commands(digits_run, tmp_path, capsys, monkeypatch):
    assert main(["evaluate", str(digits_run.path), "digits", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["count"] == 1797 and result["accuracy"] > 0.95
    image = tmp_path / "seven.png"
    digits = np.load(_digits_npz(tmp_path))
    Image.fromarray(digits["x"][7]).save(image)
    assert main(["predict", str(digits_run.path), str(image), "--top-k", "2", "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)
    assert predictions[0]["image"] == str(image) and len(predictions[0]["predictions"]) == 2
    assert predictions[0]["predictions"][0]["class"] == "7"
    monkeypatch.chdir(tmp_path)  # a short image name keeps each table row on one line
    assert main(["predict", str(digits_run.path), "seven.png", "--top-k", "2"]) == 0
    printed = capsys.readouterr().out
    assert [cell.strip() for cell in printed.splitlines()[1].split("┃")[1:-1]] == ["image", "class", "probability"]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in printed.splitlines() if "│" in line]
    assert [row[:2] for row in rows] == [["seven.png", "7"], ["", rows[1][1]]]
    assert rows[1][1] in [str(d) for d in range(10) if d != 7]
    assert float(rows[0][2]) > 0.5 and float(rows[0][2]) >= float(rows[1][2])
    assert main(["evaluate", str(digits_run.path), "digits"]) == 0
    assert "all" in capsys.readouterr().out


def _digits_npz(tmp_path):
    from autorecipe.data.dataset import load_data
    data = load_data("digits")
    np.savez(tmp_path / "d.npz", x=data.images()[:, 0], y=data.y)
    return tmp_path / "d.npz"


@pytest.mark.parametrize("argv, message", [
    (["fit", "no/such/folder"], "no/such/folder: no such file or folder"),
    (["fit", "digits", "--set", "label_smooth=0.1"], "label_smooth: unknown knob; did you mean label_smoothing?"),
    (["fit", "digits", "--set", "lr=-1"], "optimization.lr: -1 is not valid"),
    (["fit", "digits", "--device", "tpu"], "--device 'tpu': unknown device"),
    (["evaluate", ".", "digits"], "not a trained run"),
    (["knobs", "--bucket", "nope"], "unknown bucket"),
    (["fit", "digits", "--val-fraction", "1.5"], "validation fraction must be between 0 and 1, got 1.5"),
    (["fit", "digits", "--seed", "-1"], "seed -1: expected an integer from 0 to 4294967295"),
    (["search", "digits", "--seed", "4294967296"], "seed 4294967296: expected an integer from 0 to 4294967295"),
    (["diagnose", "digits", "--checks-only", "--seed", "-2"], "seed -2: expected an integer from 0"),
    (["fit", "digits", "--budget", "0s"], "budget: 0 seconds is not possible; give a positive duration"),
])
def test_user_errors_print_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err.replace("\n", "") and "Traceback" not in err


def test_a_failing_fit_leaves_no_folder_behind(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "no/such/folder"]) == 2  # the default --out, runs/fit-DATE-TIME
    assert main(["fit", "no/such/folder", "--out", "new/deeper/run"]) == 2
    assert os.listdir(tmp_path) == []
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "run.log").write_text("an earlier run")
    assert main(["fit", "no/such/folder", "--out", "old"]) == 2
    assert os.listdir(tmp_path / "old") == ["run.log"] and (tmp_path / "old" / "run.log").read_text() == "an earlier run"


def test_a_file_that_is_not_valid_yaml_is_one_line_naming_it_once(tmp_path, capsys):
    (tmp_path / "recipe.yaml").write_text("optimization:\n  lr: [1, 2\n")
    (tmp_path / "space.yaml").write_text("lr: [1, 2\n")
    for argv in (["fit", "digits", "--recipe", str(tmp_path / "recipe.yaml")],
                 ["search", "digits", "--space", str(tmp_path / "space.yaml"), "--out", str(tmp_path / "s")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.count(argv[-1] if "--recipe" in argv else argv[-3]) == 1, err
        assert "not valid YAML: expected ',' or ']'" in err and "(line " in err


def test_the_heartbeat_and_grace_period_are_checked_by_their_flags(monkeypatch):
    from autorecipe.searching.storage import GRACE, HEARTBEAT, heartbeat_seconds
    monkeypatch.setenv(HEARTBEAT, "0")
    with pytest.raises(AutorecipeError, match="--heartbeat 0 .*at least 1"):
        heartbeat_seconds()
    monkeypatch.setenv(HEARTBEAT, "10")
    monkeypatch.setenv(GRACE, "5")
    with pytest.raises(AutorecipeError, match="--grace 5: the grace period must be longer than the heartbeat"):
        heartbeat_seconds()


@pytest.mark.parametrize("out", ["taken.txt", "taken.txt/run"])
def test_an_unusable_out_path_is_one_line_and_exit_2(tmp_path, capsys, out):
    (tmp_path / "taken.txt").write_text("a file, not a folder")
    assert main(["fit", "digits", "--out", str(tmp_path / out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: --out {tmp_path / out}: [Errno") and "choose a folder you can write to" in err


def test_os_errors_elsewhere_are_not_hidden(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "/somewhere/else.bin")

    monkeypatch.setattr("autorecipe.fitting.fit", broken)
    with pytest.raises(FileNotFoundError):
        main(["fit", "digits", "--out", str(tmp_path / "run"), "--quiet"])


def test_bad_recipe_file_and_time_budget(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("architecture:\n  model: resnet99\n")
    assert main(["fit", "digits", "--recipe", str(recipe)]) == 2
    assert "r.yaml: architecture.model: 'resnet99' is not valid" in capsys.readouterr().err.replace("\n", "")
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "digits", "--time-budget", "soon"])
    assert exit_info.value.code == 2
    assert "'soon' is not a duration" in capsys.readouterr().err


def test_console_script_exits_2_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "autorecipe.cli", "predict", str(tmp_path), "x.png"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "error:" in done.stderr and "not a trained run" in done.stderr and "Traceback" not in done.stderr


def test_knobs_and_recipe_commands(capsys):
    assert main(["knobs"]) == 0
    listed = capsys.readouterr().out
    assert "label_smoothing" in listed and "regularization" in listed
    assert len(listed.splitlines()) < 120  # one line a knob, not its documentation
    assert main(["knobs", "regularization.mixup_alpha", "lr"]) == 0
    one = capsys.readouterr().out
    assert "mixup_alpha (regularization)" in one and "Zhang et al." in one and "lr (optimization)" in one
    assert "label_smoothing" not in one
    assert main(["knobs", "hflip", "--json"]) == 0
    (hflip,) = json.loads(capsys.readouterr().out)
    assert hflip["bucket"] == "regularization" and hflip["default"] == "auto" and hflip["valid"] == "true, false or auto"
    assert main(["knobs", "mixpu_alpha"]) == 2
    assert "did you mean mixup_alpha?" in capsys.readouterr().err
    assert main(["recipe", "--set", "lr=0.1"]) == 0
    assert "lr: 0.1" in capsys.readouterr().out


def test_fit_on_a_folder_logs_skipped_files_and_scores_val_and_test_sources(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["fit", str(image_folder), "--val", str(image_folder), "--test", str(image_folder),
                 "--epochs", "1", "--set", "width=0.25", "--out", str(out), "--quiet"])
    assert code == 0
    assert "1 unreadable file(s) skipped (see run.log)" in capsys.readouterr().err
    log = (out / "run.log").read_text()
    assert "skipped" in log and "broken.jpg" in log
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["skipped_files"] == 3  # the corrupt file, once in each of train, val and test
    assert metrics["num_train"] == metrics["num_val"] == metrics["num_test"] == 18
    assert 0 <= metrics["test_accuracy"] <= 1


def test_version(capsys):
    from autorecipe import __version__
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"autorecipe {__version__}"


def test_fit_takes_one_budget_grammar(tmp_path, capsys):
    assert main(["fit", "digits", "--budget", "1 epochs", "--set", "width=0.125", "--out", str(tmp_path / "e"),
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["epochs_run"] == 1
    assert main(["fit", "digits", "--budget", "1s, 50 epochs", "--set", "width=0.125", "--out", str(tmp_path / "t"),
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["status"] == "time_budget"
    capsys.readouterr()
    assert main(["fit", "digits", "--budget", "3 trials", "--out", str(tmp_path / "x")]) == 2
    assert "a fit has no trials" in capsys.readouterr().err and not (tmp_path / "x").exists()
