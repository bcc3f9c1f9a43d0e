"""`fit` on CIFAR-10 with the fixed protocol split: accuracy, wall time, decode and cache time.

Validation = files 4500..4999 of every class, training = the other 45,000 (see
../shared/data/README.md). Decoding starts from an empty cache so the cold decode time is
measured; a second load shows the cached time. Headline (last line): validation accuracy
and training minutes; the CPU goal is >= 85% within 30 minutes of training.

    python benchmarks/fit_cifar10.py ../shared/data/cifar10 [--epochs N] [--set knob=value ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

VAL_FROM = 4500


def write_manifests(root: Path, folder: Path) -> tuple[Path, Path]:
    """CSV manifests of the protocol's training and validation files."""
    train, val = ["path,label"], ["path,label"]
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    for name in classes:
        for file in sorted((root / "train" / name).glob("*.jpg")):
            (val if int(file.stem) >= VAL_FROM else train).append(f"{file.resolve()},{name}")
    (folder / "train.csv").write_text("\n".join(train) + "\n")
    (folder / "val.csv").write_text("\n".join(val) + "\n")
    return folder / "train.csv", folder / "val.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the cifar10 folder of ../shared/data")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--time-budget")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fit-cifar10-"))
    os.environ["AUTORECIPE_CACHE"] = str(work / "cache")  # cold cache: decoding is measured

    import autorecipe
    from autorecipe.data.dataset import load_data
    from autorecipe.training.display import RichProgress

    train_csv, val_csv = write_manifests(args.root, work)
    start = time.perf_counter()
    run = autorecipe.fit(train_csv, val=val_csv, overrides=args.overrides, epochs=args.epochs,
                         time_budget=args.time_budget, device=args.device, out=args.out or work / "run",
                         progress=RichProgress())
    wall = time.perf_counter() - start
    cached = time.perf_counter()
    load_data(train_csv, run.recipe.data.image_size, run.recipe.data.channels)
    load_data(val_csv, run.recipe.data.image_size, run.recipe.data.channels)
    cached = time.perf_counter() - cached
    m = run.metrics
    table = Table(title="fit on CIFAR-10 (protocol split: 45,000 train / 5,000 validation)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("recipe", f"{run.recipe.architecture.model} x{run.recipe.architecture.width}, "
                   f"{run.recipe.optimization.epochs} epochs, batch {m['batch_size']}"),
        ("device", f"{m['device']} ({m['precision']}), {os.cpu_count()} CPU cores"),
        ("status", m["status"]),
        ("decode, cold cache (s)", f"{m['decode_seconds']:.1f}"),
        ("load, warm cache (s)", f"{cached:.1f}"),
        ("training (s)", f"{m['train_seconds']:.1f}"),
        ("decode / training", f"{m['decode_seconds'] / m['train_seconds']:.3f}"),
        ("wall time, fit (s)", f"{wall:.1f}"),
        ("training images/s", f"{m['images_per_second']:,.0f}"),
        ("best epoch", f"{m['best_epoch']} of {m['epochs_run']}"),
        ("validation accuracy", f"{100 * m['val_accuracy']:.2f}%"),
    ]
    for row in rows:
        table.add_row(*row)
    Console(width=120).print(table)
    print(f"validation accuracy {100 * m['val_accuracy']:.2f}% after {m['train_seconds'] / 60:.1f} min of training "
          f"(goal on CPU: >= 85% within 30 min)")


if __name__ == "__main__":
    main()
