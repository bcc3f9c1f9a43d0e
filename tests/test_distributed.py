"""A search shared by three worker processes through PostgreSQL (127.0.0.1:5432, trust auth, database `test`;
.ci/run starts it): 30 small trials finish with none lost or run twice; a worker SIGKILLed mid-trial has its
trial failed by the heartbeat and run again by another; the library entry is written once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TRIALS = 30
HELD = 5  # trials of the budget held back for the confirmation reruns, run only for a candidate beating the base
ARGS = ["--budget", f"{TRIALS} trials", "--epochs", "1", "--set", "width=0.0625", "--set", "batch_size=64",
        "--buckets", "regularization", "--sampler", "random", "--pruner", "none", "--no-retrain", "--quiet",
        "--no-report", "--device", "cpu", "--heartbeat", "2", "--grace", "15"]


def database() -> bool:
    """Whether the PostgreSQL server and its driver are here (CI requires them: AUTORECIPE_REQUIRE_POSTGRES)."""
    try:
        import psycopg
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=3).close()
        return True
    except Exception:
        if os.environ.get("AUTORECIPE_REQUIRE_POSTGRES"):
            raise
        return False


pytestmark = pytest.mark.skipif(not database(), reason="no PostgreSQL at 127.0.0.1:5432 (or no psycopg)")


def worker(data, out, name, library, resume: bool) -> subprocess.Popen:
    command = [sys.executable, "-m", "autorecipe", "search", str(data), "--out", str(out), "--storage", URL,
               "--study-name", name, "--library", str(library), *ARGS, *(["--resume"] if resume else [])]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_three_workers_finish_a_shared_study_and_a_killed_workers_trial_is_run_again(tmp_path):
    from sklearn.datasets import load_digits
    digits = load_digits()
    data = tmp_path / "digits.npz"
    np.savez(data, x=(digits.images[:240] * 15).astype(np.uint8), y=digits.target[:240])
    out, library, name = tmp_path / "shared", tmp_path / "library", f"autorecipe-test-{uuid.uuid4().hex[:12]}"
    study = lambda: optuna.load_study(study_name=name, storage=URL)  # noqa: E731
    first = worker(data, out, name, library, resume=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / "search.json").exists() and _trials(study)):
        time.sleep(0.3)
    others = [worker(data, out, name, library, resume=True) for _ in range(2)]
    victim = others[1]
    killed = None
    while time.monotonic() < deadline and killed is None:  # kill the third worker in the middle of a trial
        running = [t for t in study().get_trials(states=(TrialState.RUNNING,))
                   if str(t.user_attrs.get("worker", "")).endswith(f":{victim.pid}")]
        if running:
            victim.send_signal(signal.SIGKILL)
            killed = running[0]
        time.sleep(0.2)
    assert killed is not None, "the third worker ran no trial"
    for process in (first, others[0]):
        assert process.wait(timeout=240) == 0, process.stderr.read()[-2000:]
    victim.wait()

    trials = study().trials
    cut = trials[killed.number]
    marks = optuna.load_study(study_name=name, storage=URL).user_attrs
    assert cut.state == TrialState.FAIL and marks.get(f"interrupted:{cut.number}")  # failed by the heartbeat
    again = [t for t in trials if t.user_attrs.get("rerun_of") == cut.number
             and t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert again, f"the killed worker's recipe (trial {cut.number}) was not run again:\n{_table(trials, marks)}"
    assert all(again[0].params[k] == v for k, v in cut.params.items())  # the recipe, as far as it was drawn
    counted = [t for t in trials if t.state.is_finished() and not t.user_attrs.get("interrupted")
               and not marks.get(f"interrupted:{t.number}") and not t.user_attrs.get("not_run")]
    # the budget spent, less what waits for confirmation reruns; two workers that check it at one instant may
    # each start a last trial
    assert TRIALS - HELD <= len(counted) <= TRIALS + 2
    searched = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                and "confirms" not in t.user_attrs]
    assert len({json.dumps(t.params, sort_keys=True) for t in searched}) == len(searched)  # none run twice
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    entries = [json.loads(line) for line in (library / "library.jsonl").read_text().splitlines()]
    assert len(entries) == 1 and entries[0]["study"].endswith(f"#{name}")  # written once, by one worker
    assert (out / "best_recipe.yaml").is_file()
    optuna.delete_study(study_name=name, storage=URL)


def _table(trials, marks) -> str:
    """The trials, one a line: what a failure of the test shows."""
    keys = ("worker", "rerun_of", "confirms", "interrupted", "not_run", "warm_start", "error")
    return "\n".join(f"{t.number} {t.state.name} {t.params} "
                     + " ".join(f"{k}={t.user_attrs[k]}" for k in keys if k in t.user_attrs)
                     + (" marked-interrupted" if marks.get(f"interrupted:{t.number}") else "") for t in trials)


def _trials(study) -> list:
    try:
        return study().trials
    except KeyError:  # not created yet
        return []
