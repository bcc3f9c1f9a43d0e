"""The training wing against the code before it (autorecipe 0.1.0, commit dc495af), side by side.

Every cell is a fresh process that imports one side's code (PYTHONPATH=<side>/src) and calls
only the public `autorecipe.fit`, so both sides run the same job:
- throughput: in each round both sides train at the same time, each on one thread pinned to
  its own core (swapped every round), so that the machine's noise falls on both alike: the
  default recipe on 4,096 random 32 px RGB images for --seconds seconds of training, no
  validation; the median images/s of the epochs after the first;
- demo: `make demo`'s job (`fit("digits")`, the default recipe, seed 0): validation accuracy;
- finders: `fit(..., auto_lr=True, auto_batch=True)` on digits and on a CIFAR-10 subset (the
  first --train-per-class training files of each class, validated on files 4500 ..
  4500 + --val-per-class - 1, --epochs epochs): the batch and lr chosen, validation accuracy.
--results FILE keeps finished cells, so an interrupted run resumes. Headline (last line): the
median throughput ratio, new / old (goal >= 0.97).

    git worktree add /tmp/autorecipe-0.1.0 dc495af
    python benchmarks/wing_parity.py --old /tmp/autorecipe-0.1.0/src [--new src] [--cifar ../shared/data/cifar10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

NEW = Path(__file__).resolve().parent.parent / "src"
DEFAULT_CIFAR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cifar10"
VAL_FROM = 4500  # the protocol's first validation file of each class


def cell(job: dict) -> dict:
    """Run one fit as `job` says, in this process (the side's code is on PYTHONPATH); its figures."""
    import autorecipe
    from autorecipe import Recipe
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        run = autorecipe.fit(job["data"], val=job.get("val"), overrides=job["overrides"],
                             val_fraction=job["val_fraction"], out=out, seed=0, device=job["device"],
                             auto_lr=job["finders"], auto_batch=job["finders"], time_budget=job.get("seconds"))
        saved = Recipe.load(out / "recipe.yaml").optimization
    rates = [h["images_per_second"] for h in run.history]
    return {"code": str(Path(autorecipe.__file__).parent), "val_accuracy": run.metrics["val_accuracy"],
            "images_per_second": statistics.median(rates[1:] or rates), "batch": saved.batch_size,
            "lr": saved.lr, "peak_lr": run.metrics["peak_lr"], "precision": run.metrics["precision"],
            "train_seconds": run.metrics["train_seconds"]}


def start_cell(code: Path, job: dict, core: int | None = None) -> subprocess.Popen:
    """`cell(job)` in a fresh process that imports the code under `code` (on one thread of `core`, if given)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, __file__, "--cell", json.dumps(job)]
    if core is not None:
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        command = ["taskset", "-c", str(core), *command]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_cell(process: subprocess.Popen, code: Path) -> dict:
    """The figures a started cell prints, checked to come from the code under `code`."""
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"a cell failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    if not result["code"].startswith(str(code)):
        raise RuntimeError(f"imported {result['code']}, not the code under {code}")
    return result


def cifar_manifests(root: Path, folder: Path, train_per_class: int, val_per_class: int) -> tuple[str, str]:
    """CSV manifests of the CIFAR-10 training subset and validation subset."""
    train, val = ["path,label"], ["path,label"]
    for directory in sorted(p for p in (root / "train").iterdir() if p.is_dir()):
        files = sorted(directory.glob("*.jpg"))
        train += [f"{f.resolve()},{directory.name}" for f in files if int(f.stem) < VAL_FROM][:train_per_class]
        val += [f"{f.resolve()},{directory.name}" for f in files if VAL_FROM <= int(f.stem) < VAL_FROM + val_per_class]
    (folder / "train.csv").write_text("\n".join(train) + "\n")
    (folder / "val.csv").write_text("\n".join(val) + "\n")
    return str(folder / "train.csv"), str(folder / "val.csv")


def _record(results: Path | None, row: dict) -> None:
    """Append a finished cell to the results file, and say it on stderr."""
    if results:
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")
    print(f"{row['cell']}: {json.dumps(row)}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="the src/ folder of the code before the training wing")
    parser.add_argument("--new", type=Path, default=NEW, help="the src/ folder of the new code (default: this checkout's)")
    parser.add_argument("--cifar", type=Path, default=DEFAULT_CIFAR, help="the cifar10 folder")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=60.0, help="training time of each throughput cell")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the CIFAR-10 finder fits")
    parser.add_argument("--train-per-class", type=int, default=200)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--results", type=Path, help="a JSON-lines file of finished cells (resume)")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(cell(json.loads(args.cell))))
        return
    if args.old is None:
        parser.error("--old is required: the src/ folder of the code before the training wing")

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    sides = {"old": args.old.resolve(), "new": args.new.resolve()}
    done = {}
    if args.results and args.results.exists():
        done = {row["cell"]: row for row in map(json.loads, args.results.read_text().splitlines()) if row}
    with tempfile.TemporaryDirectory() as folder:
        rng = np.random.default_rng(0)
        npz = Path(folder) / "random.npz"
        np.savez(npz, x=rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8),
                 y=rng.integers(0, 10, args.images))
        train_csv, val_csv = cifar_manifests(args.cifar, Path(folder), args.train_per_class, args.val_per_class)
        speed_job = {"data": str(npz), "overrides": {"epochs": 1000}, "val_fraction": 0, "finders": False,
                     "seconds": args.seconds, "device": args.device}
        for r in range(1, args.rounds + 1):
            names = {side: f"throughput {r} {side}" for side in sides}
            if all(name in done for name in names.values()):
                continue
            cores = {"old": r % 2, "new": (r + 1) % 2}
            started = {side: start_cell(sides[side], speed_job, cores[side]) for side in sides}
            for side, process in started.items():
                done[names[side]] = {"cell": names[side], "core": cores[side], **finish_cell(process, sides[side])}
                _record(args.results, done[names[side]])
        jobs = {}
        for side in ("old", "new"):
            jobs[f"demo {side}"] = (side, {"data": "digits", "overrides": {}, "val_fraction": 0.1, "finders": False})
            jobs[f"finders digits {side}"] = (side, {"data": "digits", "overrides": {}, "val_fraction": 0.1,
                                                     "finders": True})
            jobs[f"finders cifar10 {side}"] = (side, {"data": train_csv, "val": val_csv, "val_fraction": 0.1,
                                                      "overrides": {"epochs": args.epochs}, "finders": True})
        for name, (side, job) in jobs.items():
            if name not in done:
                process = start_cell(sides[side], {**job, "device": args.device})
                done[name] = {"cell": name, **finish_cell(process, sides[side])}
                _record(args.results, done[name])

    console = Console(width=120)
    speed = Table(title=f"throughput, both sides at once on a core each, default recipe, {args.images:,} random "
                        f"32 px images, {args.seconds:g} s, {done['throughput 1 new']['precision']}, {args.device}")
    for column in ("round", "old core", "old img/s", "new img/s", "new / old"):
        speed.add_column(column, justify="right")
    ratios = []
    for r in range(1, args.rounds + 1):
        old, new = done[f"throughput {r} old"]["images_per_second"], done[f"throughput {r} new"]["images_per_second"]
        ratios.append(new / old)
        speed.add_row(str(r), str(done[f"throughput {r} old"]["core"]), f"{old:,.0f}", f"{new:,.0f}", f"{new / old:.3f}")
    console.print(speed)
    same = Table(title="the same jobs, old and new code (seed 0)")
    for column in ("job", "code", "batch", "lr (batch 512)", "peak lr", "val accuracy"):
        same.add_column(column, justify="right" if column != "job" else "left")
    for job in ("demo", "finders digits", "finders cifar10"):
        for side in ("old", "new"):
            row = done[f"{job} {side}"]
            same.add_row(job, side, str(row["batch"]), f"{row['lr']:.4g}", f"{row['peak_lr']:.4g}",
                         f"{100 * row['val_accuracy']:.2f}%")
    console.print(same)
    print(f"throughput new / old: {statistics.median(ratios):.3f} (median of {args.rounds} rounds; goal >= 0.97)")


if __name__ == "__main__":
    main()
