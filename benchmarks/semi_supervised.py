"""Semi-supervised methods against supervised-only at the same wall-clock, on the CIFAR-10 protocol split.

Cells (labels, seed, arm): 250 labels (25 a class) for --seeds seeds and 4,000 (400 a class) for one seed;
the arms are supervised (the default recipe, semi_supervised none, no unlabeled images) and each method of
--methods. Every arm trains the default recipe for --minutes of wall-clock (the lr schedule follows the clock
to its end) on all its labelled images (no validation split: the last epoch is kept), the methods with the
rest of the protocol's training part as unlabeled images (files N..4499 of every class, labels dropped; fit
gets them only to score its pseudo-labels). Scored on the protocol's validation files (4500.. of every class,
--val-per-class of them). Each finished cell is one line of --results; a rerun skips what is there.
With `digits` for the folder, the built-in digits (8x8 gray): 500 images held out for scoring, the labelled
images drawn per seed (the first of every class in a seeded order), the rest unlabeled; every seed (not only
the fewest labels') runs every label count.

    python benchmarks/semi_supervised.py ../shared/data/cifar10 [--minutes 15] [--seeds 3] [--methods fixmatch,freematch,noisy_student]
        [--labels 250,4000] [--results benchmarks/semi_supervised.jsonl] [--report-only]
    python benchmarks/semi_supervised.py digits --labels 30,50 --seeds 5 --minutes 0.25 --results benchmarks/semi_supervised_digits.jsonl

Headline (last line): at the fewest labels, the best method's mean validation accuracy minus supervised-only's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from provenance import commit, machine

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VAL_FROM, TRAIN_FILES = 4500, 4500
EPOCHS = 100_000  # the most a recipe allows: the clock ends training, not the epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the cifar10 folder of the shared data, or digits (built in)")
    parser.add_argument("--labels", default="250,4000", help="labelled images (10 classes), the first with --seeds")
    parser.add_argument("--seeds", type=int, default=3, help="seeds at the fewest labels (one at the others)")
    parser.add_argument("--methods", default="fixmatch,freematch,noisy_student",
                        help="arms beside supervised-only: methods, or a method with knobs (fixmatch:unlabeled_ratio=3)")
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-clock of every arm")
    parser.add_argument("--val-per-class", type=int, default=500)
    parser.add_argument("--results", type=Path, default=Path("benchmarks/semi_supervised.jsonl"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/ssl"), help="manifests and runs")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    labels = [int(n) for n in args.labels.split(",")]
    arms = ["supervised", *args.methods.split(",")]
    digits = str(args.root) == "digits"
    cells = [(n, seed, arm) for i, n in enumerate(labels) for seed in range(args.seeds if i == 0 or digits else 1)
             for arm in arms]
    done = _read(args.results)
    if not args.report_only:
        for n, seed, arm in cells:
            if (n, seed, arm) not in done:
                row = run_cell(args, n, seed, arm)
                done[(n, seed, arm)] = row
                with args.results.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{n} labels seed {seed} {arm}: {100 * row['val_accuracy']:.2f}%", flush=True)
    report(done, labels, arms, args)


def run_cell(args, n: int, seed: int, arm: str) -> dict:
    """Train one arm and score it on the protocol's validation images."""
    import autorecipe
    if str(args.root) == "digits":
        labelled, unlabeled, truth, val = _digits(n // len(CLASSES), seed)
    else:
        labelled, unlabeled, truth, val = _manifests(args.root, args.work, n // len(CLASSES), args.val_per_class)
        labelled, unlabeled, val = str(labelled), str(unlabeled), str(val)
    semi = arm != "supervised"
    began = time.monotonic()
    method, *settings = arm.split(":")  # an arm is a method, or a method with knobs: fixmatch:unlabeled_ratio=3
    overrides = [f"semi_supervised={method if semi else 'none'}", *settings]
    run = autorecipe.fit(labelled, val_fraction=0, budget=f"{args.minutes * 60:g}s", epochs=EPOCHS, seed=seed,
                         overrides=overrides, device=args.device,
                         progress=False, out=args.work / f"run-{n}-{seed}-{arm}",
                         unlabeled=unlabeled if semi else None, unlabeled_labels=truth if semi else None)
    scored = run.evaluate(val, device=args.device)
    m = run.metrics
    return {"labels": n, "seed": seed, "arm": arm, "val_accuracy": scored["accuracy"], "num_val": scored["count"],
            "epochs_run": m["epochs_run"], "train_seconds": m["train_seconds"],
            "seconds": round(time.monotonic() - began, 1), "num_unlabeled": m.get("num_unlabeled", 0),
            "mask_rate": m.get("mask_rate"), "pseudo_label_accuracy": m.get("pseudo_label_accuracy"),
            "minutes": args.minutes, "commit": commit(), "machine": machine()}


def _manifests(root: Path, work: Path, per_class: int, val_per_class: int):
    """CSV files: the first `per_class` training files of every class (labelled), the rest of the training part
    (unlabeled paths, with their true labels apart) and the validation files."""
    work.mkdir(parents=True, exist_ok=True)
    files = {c: [(root / "train" / c / f"{i:04d}.jpg").resolve() for i in range(TRAIN_FILES)] for c in CLASSES}
    labelled, unlabeled, val = work / f"labelled-{per_class}.csv", work / f"unlabeled-{per_class}.csv", work / "val.csv"
    labelled.write_text("path,label\n" + "".join(f"{p},{c}\n" for c in CLASSES for p in files[c][:per_class]))
    unlabeled.write_text("path\n" + "".join(f"{p}\n" for c in CLASSES for p in files[c][per_class:]))
    val.write_text("path,label\n" + "".join(f"{(root / 'train' / c / f'{i:04d}.jpg').resolve()},{c}\n"
                                            for c in CLASSES for i in range(VAL_FROM, VAL_FROM + val_per_class)))
    truth = [c for c in CLASSES for _ in files[c][per_class:]]
    return labelled, unlabeled, truth, val


def _digits(per_class: int, seed: int):
    """The built-in digits: `per_class` labelled images of every class (seeded), the rest but 500 unlabeled
    (with their true labels apart), and 500 held out for scoring (the same for every seed)."""
    import numpy as np
    from sklearn.datasets import load_digits
    digits = load_digits()
    x, y = (digits.images * (255 / 16)).round().astype(np.uint8), digits.target
    held_out = np.random.default_rng(12345).permutation(len(x))[:500]
    pool = np.setdiff1d(np.arange(len(x)), held_out)
    order = np.random.default_rng(seed).permutation(pool)
    labelled = np.concatenate([order[y[order] == c][:per_class] for c in range(10)])
    unlabeled = np.setdiff1d(pool, labelled)
    return (x[labelled], y[labelled]), x[unlabeled], y[unlabeled], (x[held_out], y[held_out])


def _read(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return {(r["labels"], r["seed"], r["arm"]): r for r in rows}


def report(done: dict, labels: list[int], arms: list[str], args) -> None:
    """Per labels and arm: mean ± std validation accuracy over seeds, mask rate, pseudo-label accuracy, time."""
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"semi-supervised against supervised-only, {args.minutes:g} min an arm")
    for column in ("labels", "arm", "seeds", "val accuracy %", "mask rate %", "pseudo-label acc. %", "minutes",
                   "epochs"):
        table.add_column(column, justify="left" if column in ("labels", "arm") else "right")
    means = {}
    for n in labels:
        for arm in arms:
            rows = [r for (k, _, a), r in sorted(done.items()) if k == n and a == arm]
            if not rows:
                continue
            accuracy = [100 * r["val_accuracy"] for r in rows]
            means[(n, arm)] = statistics.mean(accuracy)
            table.add_row(str(n), arm, str(len(rows)), _mean_std(accuracy),
                          _mean_std([100 * r["mask_rate"] for r in rows if r["mask_rate"] is not None]),
                          _mean_std([100 * r["pseudo_label_accuracy"] for r in rows
                                     if r["pseudo_label_accuracy"] is not None]),
                          f"{statistics.mean(r['seconds'] for r in rows) / 60:.1f}",
                          f"{statistics.mean(r['epochs_run'] for r in rows):.0f}")
    Console(width=150).print(table)
    fewest = labels[0]
    methods = {arm: means[(fewest, arm)] for arm in arms[1:] if (fewest, arm) in means}
    if (fewest, "supervised") in means and methods:
        best = max(methods, key=methods.get)
        print(f"at {fewest} labels: {best} - supervised-only = {methods[best] - means[(fewest, 'supervised')]:+.2f} "
              f"points ({methods[best]:.2f}% against {means[(fewest, 'supervised')]:.2f}%)")


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


if __name__ == "__main__":
    main()
