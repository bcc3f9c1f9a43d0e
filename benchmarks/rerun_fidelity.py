"""Which confirmation rerun foretells a candidate's gain on test: the search's, or one trained as many steps as a trial.

The search confirms its best recipe (the candidate) against the base with cross-fitted reruns: the
labelled images cut into two halves, each recipe trained on one half for a trial's epochs and scored
on the other. On half the images a trial's epochs are half its optimizer steps, a shorter run than
the fit the user gets, where less regularization tends to pay. For every finished cell of the
search suite that has a candidate (its --results and --work), this trains the candidate and the
base again cross-fitted on the same halves with the search's first rerun seed and a trial's batch,
for a trial's epochs times (a trial's training images / a half's): as many steps as a trial. It
compares the paired gain over the labelled images with the search's own rerun at that seed (half
the steps) and with the candidate's gain on the suite's test images (the candidate arm's fit
against the default arm's).

    python benchmarks/rerun_fidelity.py ../shared/data/cifar10 [--suite benchmarks/search_suite.jsonl]
        [--work /tmp/search_suite] [--results benchmarks/rerun_fidelity.jsonl]

Each finished cell is one line of --results (JSON); a rerun skips what is there.
Headline (last line): how often each rerun's sign agrees with the test gain's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from search_suite import HEADLINE, TASKS, _commit, _correct, load_task  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the cifar10 folder of the shared data")
    parser.add_argument("--suite", type=Path, default=Path("benchmarks/search_suite.jsonl"),
                        help="the search suite's results")
    parser.add_argument("--work", type=Path, default=Path("/tmp/search_suite"), help="the search suite's studies")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/rerun_fidelity.jsonl"))
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    suite = {(r["task"], r["seed"], r["arm"]): r for r in _rows(args.suite)}
    done = {(r["task"], r["seed"]): r for r in _rows(args.results)}
    for task, seed, arm in sorted(suite, key=lambda k: (k[1], TASKS.index(k[0]))):
        search, candidate = suite[(task, seed, arm)], suite.get((task, seed, "candidate"))
        if arm != "search" or (task, seed) in done or not candidate or candidate.get("candidate") is None:
            continue
        row = {"task": task, "seed": seed, **measure(task, seed, search, candidate, suite[(task, seed, "default")],
                                                     args), "commit": _commit()}
        done[(task, seed)] = row
        with args.results.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{task} seed {seed}: matched steps {100 * row['matched']['mean']:+.2f}, half "
              f"{100 * row['half']['mean']:+.2f}, test {100 * row['test']:+.2f}", file=sys.stderr, flush=True)
    report(done)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def measure(task: str, seed: int, search: dict, candidate: dict, default: dict, args) -> dict:
    """The matched-steps rerun of a cell's candidate and base; the search's half-steps rerun at the same seed;
    the candidate's test gain."""
    from autorecipe.searching.adoption import Paired, confirmation_folds, unpack
    from autorecipe.searching.search import trial_recipe
    from autorecipe.statistics import paired_bootstrap
    folder = args.work / f"{task}-{seed}-search"
    data = load_task(task, seed, args.root)
    x, y = np.concatenate([data.train_x, data.val_x]), np.concatenate([data.train_y, data.val_y])
    folds = confirmation_folds(y, seed + 1)  # the search's first rerun: the same halves, the same seed
    correct = {}
    for name, number in (("candidate", candidate["candidate"]), ("base", search["verdict"]["baseline_trial"])):
        correct[name] = np.concatenate([_fit_half(trial_recipe(folder, number), x, y, train, score, len(data.train_x),
                                                  seed + 1, args, folder.parent / f"{task}-{seed}-fidelity-{name}-{k}")
                                        for k, (train, score) in enumerate(folds)])
    searched = Paired.unpacked(search["val_pairs"])
    half = searched.reruns  # (seeds, images) each; row 0: seed + 1
    matched = paired_bootstrap(correct["candidate"], correct["base"])
    return {"matched": matched.to_dict(), "half": paired_bootstrap(half[0][0], half[1][0]).to_dict(),
            "half_both_seeds": searched.gain().to_dict(),
            "test": float(unpack(candidate["test_correct"]).mean() - unpack(default["test_correct"]).mean())}


def _fit_half(recipe, x, y, train, score, trial_images: int, seed: int, args, out: Path) -> np.ndarray:
    """`recipe` trained on images `train` with a trial's batch, for as many steps as a trial (its epochs times
    trial_images / len(train)); per image of `score`, right or wrong."""
    import autorecipe
    from autorecipe.optimization.schedule import batch_size
    epochs = max(1, round(recipe.optimization.epochs * trial_images / len(train)))
    recipe = recipe.with_values({"batch_size": batch_size(recipe.optimization, trial_images)})
    run = autorecipe.fit((x[train], y[train]), val=(x[score], y[score]), recipe=recipe, epochs=epochs, seed=seed,
                         out=out, device=args.device, progress=False)
    return _correct(run, x[score], y[score])


def report(done: dict) -> None:
    """Per cell, the two reruns' gains and the test gain; the headline: sign agreement with test."""
    from rich.console import Console
    from rich.table import Table
    from autorecipe.statistics import Difference
    table = Table(title="confirmation reruns against the candidate's test gain (points)")
    for column in ("task", "seed", "half steps (seed+1)", "half steps, both seeds", "matched steps (seed+1)",
                   "test"):
        table.add_column(column, justify="right")
    agree = {"half": 0, "half_both_seeds": 0, "matched": 0}
    rows = sorted(done.values(), key=lambda r: (r["seed"], TASKS.index(r["task"])))
    for row in rows:
        gains = {k: Difference(**row[k]) for k in agree}
        for k, gain in gains.items():
            agree[k] += np.sign(gain.mean) == np.sign(row["test"])
        table.add_row(row["task"] + ("" if row["task"] in HEADLINE else " (apart)"), str(row["seed"]),
                      *(gains[k].points() for k in agree), f"{100 * row['test']:+.2f}")
    Console(width=200).print(table)
    print(f"sign agreement with the test gain over {len(rows)} candidates: half steps {agree['half']}, "
          f"half steps both seeds {agree['half_both_seeds']}, matched steps {agree['matched']}")


if __name__ == "__main__":
    main()
