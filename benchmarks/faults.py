"""Faults at random moments: SIGKILL and SIGINT sent to `autorecipe fit` and `autorecipe search` at a random time
of their run; after each, the folder must be in a known state, and a resume must finish with every completed
trial kept and none repeated. Then the property tests of the untrusted-input readers at 1,000 examples each.

Known states of a fit's folder: nothing started (no fit.json: run it again), completed (its model loads), or
resumable (fit.json says running or interrupted: `fit --resume` finishes it and its model loads). A search's:
nothing started (no search.json), or resumable (`search --resume` finishes its budget). A cell that ends in any
other way (a resume that fails, a model that does not load, a completed trial lost or changed, a recipe run
twice) is a failure. Cells are kept in a JSONL file, so a run resumes per cell.

    python benchmarks/faults.py [--kills 20] [--interrupts 20] [--results benchmarks/faults.jsonl] [--no-fuzz]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).parent))
from provenance import commit, machine  # noqa: E402

FIT = ["fit", "digits", "--epochs", "6", "--set", "width=0.25", "--quiet", "--no-report"]
SEARCH = ["--budget", "5 trials", "--epochs", "2", "--set", "width=0.125", "--buckets", "regularization",
          "--sampler", "random", "--pruner", "none", "--no-retrain", "--no-library", "--quiet", "--no-report",
          "--device", "cpu"]
SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGINT": signal.SIGINT}


def autorecipe(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autorecipe", *args], capture_output=True, text=True,
                          timeout=timeout)


def killed(args: list[str], signum: int, delay: float) -> int | None:
    """Run `autorecipe ARGS` and send it `signum` after `delay` seconds; its exit status (None: it had ended)."""
    child = subprocess.Popen([sys.executable, "-m", "autorecipe", *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, preexec_fn=_interruptible)
    try:
        child.wait(timeout=delay)
        return None  # finished before the signal
    except subprocess.TimeoutExpired:
        child.send_signal(signum)
        return child.wait(timeout=300)


def timed_run(verb: str, work: Path, data: Path) -> float:
    """Seconds an uninterrupted fit or search takes here, start-up included."""
    folder = work / f"{verb}-whole"
    shutil.rmtree(folder, ignore_errors=True)
    began = time.perf_counter()
    args = [*FIT, "--out", str(folder)] if verb == "fit" else ["search", str(data), "--out", str(folder), *SEARCH]
    if autorecipe(*args).returncode != 0:
        raise SystemExit(f"an uninterrupted {verb} failed: {' '.join(args)}")
    return time.perf_counter() - began


def _interruptible() -> None:
    """In the child, before it starts: SIGINT as a terminal sends it. A shell starts a background job with SIGINT
    ignored, and Python then leaves it ignored: Ctrl-C would never reach the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def fit_cell(folder: Path, signum: int, delay: float) -> dict:
    """A fit signalled after `delay` s: its state, then the resume (or a fresh fit when nothing had started)."""
    shutil.rmtree(folder, ignore_errors=True)
    code = killed([*FIT, "--out", str(folder)], signum, delay)
    record = folder / "fit.json"
    status = json.loads(record.read_text())["status"] if record.exists() else None
    state = {None: "not started", "completed": "completed"}.get(status, "resumable" if status in (
        "running", "interrupted") else f"unknown ({status})")
    if state == "resumable":
        done = autorecipe("fit", "--resume", str(folder), "--quiet", "--no-report")
    elif state == "not started":
        done = autorecipe(*FIT, "--out", str(folder), "--overwrite")
    else:
        done = None
    ok = state != f"unknown ({status})" and (done is None or done.returncode == 0)
    if ok:
        ok = _completed_fit(folder)
    return {"state": state, "exit": code, "ok": ok, "error": None if ok or done is None else done.stderr[-300:]}


def _completed_fit(folder: Path) -> bool:
    """Whether the folder holds a completed fit of every epoch whose model loads."""
    import autorecipe as package
    try:
        run = package.load(folder)
    except Exception:
        return False
    return json.loads((folder / "fit.json").read_text())["status"] == "completed" and len(run.history) == 6


def search_cell(folder: Path, data: Path, signum: int, delay: float) -> dict:
    """A search signalled after `delay` s: its state, then the resume; completed trials kept, none repeated."""
    from autorecipe.searching.search import load_study
    shutil.rmtree(folder, ignore_errors=True)
    code = killed(["search", str(data), "--out", str(folder), *SEARCH], signum, delay)
    if not (folder / "search.json").exists():
        state, before = "not started", {}
        shutil.rmtree(folder, ignore_errors=True)
        done = autorecipe("search", str(data), "--out", str(folder), *SEARCH)
    else:
        state = "resumable"
        before = {t.number: (t.state, t.params) for t in load_study(folder).trials
                  if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
        done = autorecipe("search", str(data), "--out", str(folder), "--resume", *SEARCH)
    if done.returncode != 0:
        return {"state": state, "exit": code, "ok": False, "lost": None, "repeated": None,
                "error": done.stderr[-300:]}
    trials = load_study(folder).trials
    lost = sum(1 for n, (kind, params) in before.items()
               if n >= len(trials) or trials[n].state != kind or trials[n].params != params)
    searched = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                and "confirms" not in t.user_attrs]
    repeated = len(searched) - len({json.dumps(t.params, sort_keys=True) for t in searched})
    finished = sum(1 for t in trials if t.state.is_finished() and "interrupted" not in t.user_attrs
                   and "not_run" not in t.user_attrs)
    ok = lost == 0 and repeated == 0 and finished >= 5
    return {"state": state, "exit": code, "ok": ok, "lost": lost, "repeated": repeated, "kept": len(before),
            "error": None}


CASES = ["tests/test_faults.py", "tests/test_run_folders_are_data.py", "tests/test_untrusted_text.py",
         "tests/test_distributed.py", "tests/test_bundle.py", "tests/test_data.py", "tests/test_predict_many.py"]


def pytest(*args: str, log: Path, examples: int | None = None) -> dict:
    """Run pytest on the project's tests (the property tests at `examples` examples each): passed or not, its
    summary line, and how long it took; its whole output goes to `log`."""
    began = time.perf_counter()
    env = {**os.environ, **({"AUTORECIPE_FUZZ_EXAMPLES": str(examples)} if examples else {})}
    done = subprocess.run([sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-rf", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=Path(__file__).parent.parent, env=env)
    log.write_text(done.stdout + done.stderr)
    lines = [line for line in done.stdout.strip().splitlines() if " passed" in line or " failed" in line]
    failed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAILED ")]
    return {"passed": done.returncode == 0, "seconds": time.perf_counter() - began,
            "summary": (lines[-1].strip("= ") if lines else done.stdout.strip()[-200:])
            + (f" ({', '.join(failed)})" if failed else "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs each of fit and search")
    parser.add_argument("--interrupts", type=int, default=20, help="SIGINTs each of fit and search")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/faults.jsonl"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/autorecipe-faults"))
    parser.add_argument("--no-fuzz", dest="fuzz", action="store_false",
                        help="leave out the property tests at 1,000 examples each")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "digits300.npz"
    if not data.exists():
        from sklearn.datasets import load_digits
        digits = load_digits()
        np.savez(data, x=(digits.images[:300] * 15).astype(np.uint8), y=digits.target[:300])
    rows = [json.loads(line) for line in args.results.read_text().splitlines()] if args.results.exists() else []
    done = {(r["verb"], r["signal"], r["index"]) for r in rows}
    plan = [(verb, name, i) for verb in ("fit", "search") for name, count in (("SIGKILL", args.kills),
                                                                               ("SIGINT", args.interrupts))
            for i in range(count)]
    durations = {verb: timed_run(verb, args.work, data) for verb in ("fit", "search")
                 if any(cell[0] == verb and cell not in done for cell in plan)}  # a whole run, to draw moments from
    print(", ".join(f"a whole {verb} takes {seconds:.1f} s" for verb, seconds in durations.items()), flush=True)
    for verb, name, index in plan:
        if (verb, name, index) in done:
            continue
        delay = random.Random(f"{verb}{name}{index}").uniform(0.3, durations[verb])  # any moment of the run
        folder = args.work / f"{verb}-{name}-{index}"
        cell = (fit_cell(folder, SIGNALS[name], delay) if verb == "fit"
                else search_cell(folder, data, SIGNALS[name], delay))
        row = {"verb": verb, "signal": name, "index": index, "delay": round(delay, 2), **cell,
               "commit": commit(), "machine": machine()}
        rows.append(row)
        with args.results.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{verb} {name} #{index} at {delay:.1f} s: {cell['state']}, {'ok' if cell['ok'] else 'FAILED'}",
              flush=True)
    cases = pytest(*CASES, log=args.work / "cases.log")  # a test a fault case and bad input, and the data checks
    fuzzed = pytest("tests/test_properties.py", log=args.work / "fuzz.log", examples=1000) if args.fuzz else None
    print(f"\n{'verb':7} {'signal':8} {'cells':>5} {'survived':>8} {'states':40} {'trials lost':>11} {'repeated':>8}")
    for verb in ("fit", "search"):
        for name in SIGNALS:
            cells = [r for r in rows if r["verb"] == verb and r["signal"] == name]
            states = Counter(r["state"] for r in cells)
            lost = sum(r.get("lost") or 0 for r in cells)
            repeated = sum(r.get("repeated") or 0 for r in cells)
            print(f"{verb:7} {name:8} {len(cells):5} {sum(r['ok'] for r in cells):8} "
                  f"{', '.join(f'{k} {v}' for k, v in sorted(states.items())):40} "
                  f"{lost if verb == 'search' else '-':>11} {repeated if verb == 'search' else '-':>8}")
    print(f"fault and bad-input cases ({', '.join(Path(c).name for c in CASES)}): {cases['summary']} "
          f"({cases['seconds']:.0f} s)")
    if fuzzed:
        print(f"property tests (recipe loader, manifest parser, run-folder loader) at 1,000 examples each: "
              f"{fuzzed['summary']} ({fuzzed['seconds']:.0f} s)")
    survived = sum(r["ok"] for r in rows)
    lost = sum(r.get("lost") or 0 for r in rows)
    print(f"faults survived {survived}/{len(rows)} ({sum(r['signal'] == 'SIGKILL' for r in rows)} SIGKILL, "
          f"{sum(r['signal'] == 'SIGINT' for r in rows)} SIGINT); completed trials lost {lost}; "
          f"cases {'passed' if cases['passed'] else 'FAILED'}; "
          f"fuzz {'passed' if fuzzed and fuzzed['passed'] else 'not run' if not fuzzed else 'FAILED'}")


if __name__ == "__main__":
    main()
