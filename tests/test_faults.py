"""Every fault ends in a known state: an --out that holds a run is not replaced without --overwrite, and never
mixes two runs; SIGTERM behaves as Ctrl-C; a diverged fit exits non-zero; a full disk at a checkpoint or at the
save is a one-line error and loses nothing that resume cannot give back."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import autorecipe
from autorecipe import files
from autorecipe.cli import main
from autorecipe.errors import AutorecipeError
from autorecipe.training.callbacks import Callback
from hangs import within

QUICK = {"epochs": 2, "width": 0.25}


def status(folder: Path) -> str:
    return json.loads((folder / "fit.json").read_text())["status"]


def test_an_out_holding_a_run_needs_overwrite_which_leaves_nothing_of_the_old_run(tmp_path, capsys):
    out = tmp_path / "run"
    autorecipe.fit("digits", overrides=QUICK, out=out, device="cpu", progress=False, auto_lr=False)
    (out / "model.onnx").write_bytes(b"an export of the old run")
    (out / "lr_finder.csv").write_text("old curve")
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(AutorecipeError, match="holds a run already; choose another folder or replace it with "
                                              "--overwrite"):  # it ended: nothing to resume
        autorecipe.fit("digits", overrides=QUICK, out=out, device="cpu", progress=False)
    assert (out / "model.safetensors").read_bytes() == before  # untouched
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "checkpoint.pt").write_bytes(b"a killed fit's checkpoint")
    with pytest.raises(AutorecipeError, match="holds a run already.*fit --resume .*cut`, or replace it"):
        autorecipe.fit("digits", overrides=QUICK, out=tmp_path / "cut", device="cpu", progress=False)
    assert main(["fit", "digits", "--epochs", "1", "--set", "width=0.25", "--out", str(out), "--quiet"]) == 2
    assert "holds a run already" in capsys.readouterr().err
    assert main(["fit", "digits", "--epochs", "1", "--set", "width=0.25", "--out", str(out), "--quiet",
                 "--overwrite", "--no-report"]) == 0
    assert not (out / "model.onnx").exists() and not (out / "lr_finder.csv").exists()
    assert len(autorecipe.load(out).history) == 1 and status(out) == "completed"
    (tmp_path / "empty").mkdir()
    autorecipe.fit("digits", overrides={**QUICK, "epochs": 1}, out=tmp_path / "empty", device="cpu", progress=False)


@pytest.mark.parametrize("markers, argv, kind", [
    (["fit.json", "model.safetensors"], ["search", "digits", "--budget", "1 trials"], "a fit (fit.json)"),
    (["search.json"], ["fit", "digits", "--epochs", "1"], "a search (search.json)"),
    (["plan.json"], ["diagnose", "digits", "--checks-only"], "an ablation or comparison (plan.json)"),
    (["diagnose.json"], ["fit", "digits", "--epochs", "1"], "a diagnosis (diagnose.json)"),
])
def test_a_verb_never_writes_into_another_verbs_folder(markers, argv, kind, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    for name in markers:
        (out / name).write_text("{}")
    assert main([*argv, "--out", str(out)]) == 2
    assert f"--out {out} holds {kind}; give another --out" in capsys.readouterr().err.replace("\n", "")
    assert sorted(p.name for p in out.iterdir()) == sorted(markers)  # nothing written beside them


def test_an_ablation_is_not_started_in_another_verbs_folder(tmp_path):
    from autorecipe.ablation.cells import Cells
    (tmp_path / "search.json").write_text("{}")
    with pytest.raises(AutorecipeError, match="holds a search \\(search.json\\); give another --out"):
        Cells(tmp_path, {"seeds": 1}, False, "ablation")
    (tmp_path / "search.json").unlink()
    (tmp_path / "plan.json").write_text('{"vary": {"lr": [0.1]}}')
    with pytest.raises(AutorecipeError, match="holds a comparison already; give another --out"):
        Cells(tmp_path, {"seeds": 1}, False, "ablation")


def test_a_diverged_fit_exits_non_zero_and_says_no_model_was_saved(tmp_path, capsys):
    out = tmp_path / "nan"
    assert main(["fit", "digits", "--model", "usermodels:nan_net", "--epochs", "2", "--out", str(out),
                 "--quiet"]) == 1
    said = capsys.readouterr().err
    assert "training diverged before its first epoch ended: no model saved" in said and "infinite or NaN" in said
    assert status(out) == "diverged" and not (out / "model.safetensors").exists()


def test_sigterm_behaves_like_ctrl_c_and_the_fit_resumes(tmp_path):
    out = tmp_path / "term"
    child = subprocess.Popen([sys.executable, "-m", "autorecipe", "fit", "digits", "--epochs", "200", "--set",
                              "width=0.25", "--out", str(out), "--quiet", "--no-report"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / "history.csv").exists() or (out / "checkpoint.pt").exists()):
        time.sleep(0.2)  # wait for the first checkpoint (written at the first epoch's end)
    child.send_signal(signal.SIGTERM)
    printed, _ = child.communicate(timeout=120)
    assert child.returncode == 130 and f"continue it with: autorecipe fit --resume {out}" in printed
    assert status(out) == "interrupted" and (out / "checkpoint.pt").is_file()
    trained = len((out / "history.csv").read_text().splitlines()) - 1  # the epochs before SIGTERM
    resumed = autorecipe.fit(resume=out, device="cpu", progress=False, callbacks=[StopAfterOneEpoch()])
    assert resumed.metrics["status"] == "stopped" and len(resumed.history) == trained + 1


class StopAfterOneEpoch(Callback):
    def on_epoch(self, record):
        return "one epoch was enough"


def test_a_full_disk_at_a_checkpoint_goes_on_and_at_the_save_is_one_line_with_the_way_back(tmp_path, monkeypatch,
                                                                                          capsys):
    out = tmp_path / "full"
    write = files.write_atomic

    def full_for(names):
        def writer(path, data):
            if Path(path).name in names:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return write(path, data)
        return writer
    from autorecipe import run as run_module
    from autorecipe.training import checkpoint as checkpoint_module
    monkeypatch.setattr(checkpoint_module, "write_atomic", full_for({"checkpoint.pt"}))
    done = autorecipe.fit("digits", overrides=QUICK, out=out, device="cpu", progress=False)
    assert done.metrics["status"] == "completed" and "checkpoint not written" in (out / "run.log").read_text()

    monkeypatch.setattr(checkpoint_module, "write_atomic", write)
    monkeypatch.setattr(run_module, "write_atomic", full_for({"model.safetensors"}))
    assert main(["fit", "digits", "--epochs", "2", "--set", "width=0.25", "--out", str(out), "--overwrite",
                 "--quiet", "--no-report"]) == 2
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(said) == 1 and "cannot save the run (No space left on device)" in said[0]
    assert "autorecipe fit --resume" in said[0]
    assert status(out) == "running" and (out / "checkpoint.pt").is_file()

    monkeypatch.setattr(run_module, "write_atomic", write)
    resumed = autorecipe.fit(resume=out, device="cpu", progress=False)
    assert resumed.metrics["status"] == "completed" and len(resumed.history) == 2
    assert (out / "model.safetensors").is_file() and not (out / "checkpoint.pt").exists()


@pytest.mark.parametrize("link", ["relative", "absolute"])
def test_a_stale_journal_lock_left_by_a_kill_does_not_hang_a_resume(link, tmp_path, monkeypatch):
    from sklearn.datasets import load_digits
    digits = load_digits()
    np.savez(tmp_path / "d.npz", x=(digits.images[:200] * 15).astype(np.uint8), y=digits.target[:200])
    monkeypatch.chdir(tmp_path)
    options = dict(overrides={"width": 0.125, "epochs": 1}, buckets=["regularization"], device="cpu", retrain=False,
                   library=False, sampler="random", pruner="none")
    autorecipe.search("d.npz", out="runs/s", budget="1 trials", **options)
    lock = tmp_path / "runs" / "s" / "study.journal.lock"
    # what a search killed while writing leaves: a relative link (earlier versions) or an absolute one
    os.symlink("runs/s/study.journal" if link == "relative" else str(lock.with_suffix("")), lock)
    with within(120, "resuming past a stale lock"):
        resumed = autorecipe.search("d.npz", out="runs/s", budget="2 trials", resume=True, **options)
    assert len(resumed.study.trials) >= 2 and not os.path.lexists(lock)


def test_the_journal_lock_a_live_worker_holds_or_has_just_released_is_left_alone(tmp_path):
    from autorecipe.searching.storage import drop_broken_lock
    journal = tmp_path / "study.journal"
    journal.touch()
    lock = tmp_path / "study.journal.lock"
    os.symlink(str(journal), lock)  # held by a live worker (Optuna's grace period ends it if that worker died)
    drop_broken_lock(str(journal))
    assert os.path.islink(lock)
    lock.unlink()  # released meanwhile: nothing to remove, no error
    drop_broken_lock(str(journal))
    assert not os.path.lexists(lock)


def test_a_fifo_where_autorecipe_reads_a_file_is_an_error_not_a_hang(tmp_path, monkeypatch):
    run = autorecipe.fit("digits", overrides={**QUICK, "epochs": 1}, out=tmp_path / "run", device="cpu",
                         progress=False)
    with within(60, "reading FIFOs"):
        os.mkfifo(tmp_path / "recipe.yaml")
        with pytest.raises(AutorecipeError, match="not a regular file"):
            autorecipe.Recipe.load(tmp_path / "recipe.yaml")
        for name in ("classes.json", "inference.json", "model.safetensors"):
            folder = tmp_path / f"fifo-{name}"
            folder.mkdir()
            for f in run.path.iterdir():
                if f.is_file() and f.name != name:
                    (folder / f.name).write_bytes(f.read_bytes())
            os.mkfifo(folder / name)
            with pytest.raises(AutorecipeError, match="not a regular file|not a trained run"):
                autorecipe.load(folder)


def test_damaged_search_settings_on_resume_are_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "search"
    out.mkdir()
    for content in (b"{not json", b"\xff\xfe\x00", b"[1, 2]"):
        (out / "search.json").write_bytes(content)
        assert main(["search", "digits", "--out", str(out), "--resume"]) == 2
        said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
        assert len(said) == 1 and "damaged search settings" in said[0]


def test_a_damaged_metrics_json_leaves_the_model_usable(tmp_path, caplog):
    run = autorecipe.fit("digits", overrides={**QUICK, "epochs": 1}, out=tmp_path / "run", device="cpu",
                         progress=False)
    (run.path / "metrics.json").write_text("{truncated")
    loaded = autorecipe.load(run.path)
    assert loaded.metrics == {} and "metrics.json: damaged" in caplog.text
    assert autorecipe.evaluate(loaded, "digits", device="cpu")["count"] == 1797
    assert main(["report", str(run.path)]) == 0
