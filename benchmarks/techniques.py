"""Each technique against the default recipe on a CIFAR-10 subset: 3 seeds, mean +- std validation accuracy.

Every row is the default recipe with a few knobs overridden (the TECHNIQUES table below; add
a row to measure another technique). The budget is fixed and short: training on the first
300 images of each class of the protocol's training part (3,000 images), 3 epochs; validation
on the protocol's files 4500..4699 of each class (a fixed stratified 2,000 of the 5,000). At this budget a technique
that only pays off over long training shows as a cost; the table says which defaults earn
their place in a short run, not in the default 20 epochs. Headline (last line): the default
recipe's accuracy and the best row's difference from it. Rows run in table order; a row
that would end past --budget-minutes (judged by the slowest row so far) is not started, and
the output names it.

With --results FILE every finished row is appended to FILE (JSON lines) and rows already there
are not run again: an interrupted table resumes, and several processes sharing one FILE split
the rows between them (each claims a row before running it; --reverse takes them from the end),
for example one per core with OMP_NUM_THREADS=1. Run once more with the same FILE to print the
whole table.

    python benchmarks/techniques.py ../shared/data/cifar10 [--only "mixup 0.2,cutmix 1.0"] [--seeds 3]
                                   [--budget-minutes 240]   (the whole table: about 3 h on 2 cores)
                                   [--results rows.jsonl [--reverse]]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from autorecipe.searching.resume import process_alive

VAL_FROM = 4500  # protocol: files 4500..4999 of each class are validation

# name -> recipe overrides from the default recipe
TECHNIQUES: dict[str, dict] = {
    "default recipe": {},
    # augmentation
    "no augmentation": {"hflip": False, "translate": 0.0},
    "flip only": {"translate": 0.0},
    "random-resized crop 0.35": {"translate": 0.0, "resized_crop": 0.35},
    "colour jitter 0.3": {"color_jitter": 0.3},
    "random erasing 0.5": {"random_erasing": 0.5},
    "cutout 0.5": {"cutout": 0.5},
    # mixing
    "mixup 0.2": {"mixup_alpha": 0.2},
    "cutmix 1.0": {"cutmix_alpha": 1.0},
    "mixup + cutmix": {"mixup_alpha": 0.2, "cutmix_alpha": 1.0},
    "mixup + cutmix on half the batches": {"mixup_alpha": 0.2, "cutmix_alpha": 1.0, "mix_prob": 0.5},
    # penalties and targets
    "no label smoothing": {"label_smoothing": 0.0},
    "no weight decay": {"weight_decay": 0.0},
    "decoupled weight decay 5e-3 (SGDW)": {"weight_decay_mode": "decoupled", "weight_decay": 5e-3},
    "elastic net (+ L1 1e-5)": {"l1": 1e-5},
    "no decay on norm/bias": {"decay_norm_bias": False},
    # in the model
    "dropout 0.2": {"dropout": 0.2},
    "stochastic depth 0.1": {"drop_path": 0.1},
    # weights and evaluation
    "EMA 0.99": {"ema_decay": 0.99},
    "early stopping (patience 1)": {"patience": 1},
    "TTA flip": {"tta": "flip"},
    # optimizers (weight_decay_mode auto: coupled for SGD, Adam, RMSProp, Adagrad and LARS, decoupled
    # for AdamW, LAMB, Lion and Muon); lr is for a batch of 512
    "SGD without Nesterov": {"nesterov": False},
    "Adam lr 2e-3": {"optimizer": "adam", "lr": 2e-3},
    "AdamW lr 4e-3 + wd 5e-2": {"optimizer": "adamw", "lr": 4e-3, "weight_decay": 5e-2},
    "RMSProp lr 1e-3": {"optimizer": "rmsprop", "lr": 1e-3, "beta2": 0.99},
    "Adagrad lr 5e-2": {"optimizer": "adagrad", "lr": 5e-2},
    "LARS lr 2": {"optimizer": "lars", "lr": 2.0},
    "LAMB lr 1e-2 + wd 5e-2": {"optimizer": "lamb", "lr": 1e-2, "weight_decay": 5e-2},
    "Lion lr 4e-4 + wd 0.5": {"optimizer": "lion", "lr": 4e-4, "weight_decay": 0.5},
    "Muon lr 4e-3 + wd 5e-2": {"optimizer": "muon", "lr": 4e-3, "weight_decay": 5e-2},
    # schedules and steps
    "cosine schedule": {"schedule": "cosine"},
    "one-cycle schedule": {"schedule": "onecycle"},
    "step schedule": {"schedule": "step"},
    "constant lr without warmup": {"schedule": "constant", "warmup": 0.0},
    "sqrt lr scaling": {"lr_scaling": "sqrt"},
    "accumulate 2 batches": {"accumulate": 2},
    "lookahead": {"lookahead": True},
    "gradient clipping at 1": {"grad_clip": 1.0},
    "batch-norm momentum 0.3": {"bn_momentum": 0.3},
    "batch-norm eps 1e-3": {"bn_eps": 1e-3},
    "inputs scaled to 0..1": {"input_norm": "scale"},
    "no channels-last": {"channels_last": False},
    # slowest last (TTA triples evaluation; kornia's automatic policies cost up to a training step
    # per batch on a CPU; bf16 and fp16 are emulated on CPUs without native units; compile compiles)
    "TTA flip + translate": {"tta": "flip_translate"},
    "TrivialAugment": {"policy": "trivialaugment"},
    "RandAugment N2 M9": {"policy": "randaugment", "randaugment_n": 2, "randaugment_m": 9},
    "AutoAugment (CIFAR)": {"policy": "autoaugment"},
    "bf16 autocast": {"precision": "bf16"},
    "fp16 with loss scaling": {"precision": "fp16"},
    "torch.compile": {"compile": True},
}


def write_manifests(root: Path, folder: Path, train_per_class: int, val_per_class: int) -> tuple[Path, Path]:
    """CSV manifests: the first `train_per_class` training files and `val_per_class` validation files per class."""
    train, val = ["path,label"], ["path,label"]
    for name in sorted(p.name for p in (root / "train").iterdir() if p.is_dir()):
        for i in range(train_per_class):
            train.append(f"{(root / 'train' / name / f'{i:04d}.jpg').resolve()},{name}")
        for i in range(VAL_FROM, VAL_FROM + val_per_class):
            val.append(f"{(root / 'train' / name / f'{i:04d}.jpg').resolve()},{name}")
    (folder / "train.csv").write_text("\n".join(train) + "\n")
    (folder / "val.csv").write_text("\n".join(val) + "\n")
    return folder / "train.csv", folder / "val.csv"


class RowStore:
    """Finished rows and claims in a JSON-lines file shared by the processes that fill one table."""

    def __init__(self, path: Path | None, config: str) -> None:
        self.path, self.config = path, config

    def _records(self) -> list[dict]:
        """This configuration's records (a file may hold rows of other budgets: they are ignored)."""
        if self.path is None or not self.path.exists():
            return []
        records = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        return [r for r in records if r.get("config") == self.config]

    def _append(self, record: dict) -> None:
        record["config"] = self.config
        if self.path is not None:
            with open(self.path, "a") as handle:  # one short line per write: appends do not interleave
                handle.write(json.dumps(record) + "\n")

    def done(self) -> dict[str, dict]:
        """Finished rows by name."""
        return {r["name"]: r for r in self._records() if "accuracies" in r}

    def claim(self, name: str) -> bool:
        """Claim a row unless it is finished or claimed by a live process on this host."""
        for record in self._records():
            if record["name"] != name:
                continue
            if "accuracies" in record:
                return False
            if record.get("claimed") != os.getpid() and process_alive(record.get("claimed", 0)):
                return False
        self._append({"name": name, "claimed": os.getpid()})
        return True

    def finish(self, name: str, accuracies: list[float], seconds: float, device: str, precision: str) -> None:
        self._append({"name": name, "accuracies": accuracies, "seconds": seconds,
                      "device": device, "precision": precision})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=Path(__file__).parents[1] / "../shared/data/cifar10",
                        help="the cifar10 folder of ../shared/data")
    parser.add_argument("--only", help="comma-separated row names to run (the default recipe always runs)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--val-per-class", type=int, default=200)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--budget-minutes", type=float, default=240.0)
    parser.add_argument("--results", type=Path, help="JSON-lines file of finished rows: resume and share rows")
    parser.add_argument("--reverse", action="store_true", help="take rows from the end of the table")
    args = parser.parse_args()
    if args.val_per_class > 5000 - VAL_FROM or args.train_per_class > VAL_FROM:
        parser.error(f"at most {VAL_FROM} training and {5000 - VAL_FROM} validation files per class")
    rows = list(TECHNIQUES)
    if args.only:
        wanted = [name.strip() for name in args.only.split(",")]
        unknown = [name for name in wanted if name not in TECHNIQUES]
        if unknown:
            parser.error(f"unknown rows {unknown}; valid rows: {', '.join(TECHNIQUES)}")
        rows = ["default recipe"] + [name for name in wanted if name != "default recipe"]

    import autorecipe

    work = Path(tempfile.mkdtemp(prefix="techniques-"))
    train_csv, val_csv = write_manifests(args.root, work, args.train_per_class, args.val_per_class)
    console = Console(width=140)
    store = RowStore(args.results, f"{args.seeds} seeds, {args.epochs} epochs, {args.train_per_class}/class"
                                   f" train, {args.val_per_class}/class val, device {args.device}")
    results: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    device = precision = ""
    start = time.perf_counter()
    skipped: list[str] = []
    for name in (rows[::-1] if args.reverse else rows):
        elapsed = time.perf_counter() - start
        if seconds and elapsed + args.seeds * max(seconds.values()) > 60 * args.budget_minutes:
            skipped.append(name)
            continue
        if args.results is not None and not store.claim(name):
            continue
        accuracies, row_start = [], time.perf_counter()
        for seed in range(args.seeds):
            run = autorecipe.fit(train_csv, val=val_csv, overrides=TECHNIQUES[name], epochs=args.epochs,
                                 device=args.device, seed=seed, out=work / "run")
            accuracies.append(100 * run.metrics["val_accuracy"])
        results[name] = accuracies
        seconds[name] = (time.perf_counter() - row_start) / args.seeds
        device, precision = run.metrics["device"], run.metrics["precision"]
        store.finish(name, accuracies, seconds[name], device, precision)
        console.print(f"{name}: {' '.join(f'{a:.2f}' for a in accuracies)} ({seconds[name]:.0f} s/run)")
    for name, record in store.done().items():
        if name in rows and name not in results:
            results[name], seconds[name] = record["accuracies"], record["seconds"]
            device, precision = record["device"], record["precision"]
    missing = [name for name in rows if name not in results and name not in skipped]
    if "default recipe" not in results or missing:
        print(f"rows still running or not run in another process: {', '.join(missing) or 'default recipe'}")
        return

    base = statistics.mean(results["default recipe"])
    table = Table(title=f"techniques on CIFAR-10: {10 * args.train_per_class:,} training images "
                        f"({args.train_per_class}/class), {args.epochs} epochs, {args.seeds} seeds; validation "
                        f"{10 * args.val_per_class:,} images (files {VAL_FROM}..{VAL_FROM + args.val_per_class - 1}"
                        f" of each class); {device} ({precision})")
    for column, justify in (("technique", "left"), ("overrides", "left"), ("val accuracy %", "right"),
                            ("vs default", "right"), ("s/run", "right")):
        table.add_column(column, justify=justify)
    rows = [name for name in rows if name in results]
    for name in rows:
        values = results[name]
        mean, std = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
        overrides = ", ".join(f"{k}={v}" for k, v in TECHNIQUES[name].items()) or "-"
        diff = "" if name == "default recipe" else f"{mean - base:+.2f}"
        table.add_row(name, overrides, f"{mean:.2f} ± {std:.2f}", diff, f"{seconds[name]:.0f}")
    console.print(table)
    if skipped:
        print(f"not run (past the {args.budget_minutes:g}-minute budget): {', '.join(skipped)}")
    others = [name for name in rows if name != "default recipe"]
    minutes = sum(seconds[name] for name in rows) * args.seeds / 60
    if others:
        best = max(others, key=lambda n: statistics.mean(results[n]))
        print(f"default recipe {base:.2f}%; best technique: {best} "
              f"{statistics.mean(results[best]) - base:+.2f} points ({minutes:.1f} min of training runs)")
    else:
        print(f"default recipe {base:.2f}% ({minutes:.1f} min of training runs)")


if __name__ == "__main__":
    main()
