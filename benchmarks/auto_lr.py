"""The automatic learning rate (lr: 0) against ResNet-9's 0.4 on other architectures, on CIFAR-10.

Each architecture trains with the default recipe twice, side by side: once at lr 0.4 for a
batch of 512 (ResNet-9's tuned value, which every model used before the learning rate became
automatic) and once with the automatic lr (0.1 for a batch of 512 with SGD on every model but
ResNet-9 and fastnet). Fixed epochs (default 4) on the first --train-per-class training files
of each class of the protocol split; validation on files 4500 .. 4500 + --val-per-class - 1 of
each class. Headline (last line): the mean gain of the automatic lr, in accuracy points.

    python benchmarks/auto_lr.py [../shared/data/cifar10] [--models vgg11,resnet18] [--epochs 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from zoo import DEFAULT_ROOT, manifests

MODELS = "vgg11,resnet18,resnet34,preact_resnet18,wrn16_4,mobilenetv2"
OLD_LR = 0.4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=DEFAULT_ROOT, help="the cifar10 folder")
    parser.add_argument("--models", default=MODELS, help=f"comma-separated model names (default {MODELS})")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-per-class", type=int, default=150)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import autorecipe
    from autorecipe.training.setup import resolve_lr

    work = Path(tempfile.mkdtemp(prefix="auto-lr-"))
    train_csv, val_csv = manifests(args.root, work, args.train_per_class, args.val_per_class)
    start, rows = time.perf_counter(), []
    for name in args.models.split(","):
        scores = {}
        for label, lr in (("0.4", OLD_LR), ("auto", 0.0)):
            run = autorecipe.fit(train_csv, val=val_csv, overrides={"model": name, "lr": lr}, epochs=args.epochs,
                                 device=args.device, out=work / f"{name}-{label}")
            scores[label] = 100 * (run.metrics["val_accuracy"] or 0.0)
        auto = resolve_lr(run.recipe).optimization.lr
        rows.append((name, auto, scores["0.4"], scores["auto"]))
        print(f"{name}: lr 0.4 {scores['0.4']:.2f}%, auto ({auto:g}) {scores['auto']:.2f}%", flush=True)
    table = Table(title=f"automatic lr against 0.4 (for a batch of 512), CIFAR-10: {args.epochs} epochs on "
                        f"{10 * args.train_per_class:,} training images, validation on {10 * args.val_per_class:,} "
                        f"protocol files; {run.metrics['device']} ({run.metrics['precision']})")
    for column in ("model", "automatic lr", "accuracy at lr 0.4", "accuracy at the automatic lr", "gain"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, auto, old, new in rows:
        table.add_row(name, f"{auto:g}", f"{old:.2f}%", f"{new:.2f}%", f"{new - old:+.2f}")
    Console(width=120).print(table)
    gain = statistics.mean(new - old for _, _, old, new in rows)
    print(f"automatic lr minus lr 0.4: {gain:+.2f} accuracy points (mean of {len(rows)} architectures, "
          f"{(time.perf_counter() - start) / 60:.1f} min wall)")


if __name__ == "__main__":
    main()
