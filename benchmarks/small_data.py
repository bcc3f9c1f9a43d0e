"""Small-data defaults against those of 0.1.0, side by side, and the flip rule on CIFAR-10.

Two arms train the default recipe on the first N training images of each dataset (N = --sizes),
scored on held-out images, for --seeds seeds each:
- 0.1.0: the automatic batch without a floor (the largest power of two with 16 steps an epoch:
  4 for 100 images) and horizontal flips always on;
- today: the default recipe (a batch floor of 16, hflip auto).
Datasets: CIFAR-10 (first images of the protocol's training part in file order, validated on
files 4500 .. 4500 + --val-per-class - 1 of each class) and the built-in digits (validated on the
last 697). The flip rule is also run on CIFAR-10 subsets of several sizes (up to --flip-images):
it must keep flips on. Headline (last line): today's mean accuracy minus 0.1.0's, in points, over every cell.

    python benchmarks/small_data.py [../shared/data/cifar10] [--sizes 100,200] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

DEFAULT_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cifar10"
VAL_FROM = 4500


def old_batch(num_train: int) -> int:
    """0.1.0's automatic batch: the largest power of two up to 512 with at least 16 steps an epoch."""
    size = 1
    while size * 2 <= 512 and size * 2 * 16 <= num_train:
        size *= 2
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=DEFAULT_ROOT, help="the cifar10 folder")
    parser.add_argument("--sizes", default="100,200", help="training images per run, comma-separated")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--flip-images", type=int, default=2000, help="CIFAR-10 images the flip rule is run on, at most")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import numpy as np
    import autorecipe
    from autorecipe.data.dataset import load_data
    from autorecipe.regularization.augment import flips_keep_classes

    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        train_rows, val_rows = ["path,label"], ["path,label"]
        per_class = [sorted((args.root / "train" / c).glob("*.jpg")) for c in sorted(
            p.name for p in (args.root / "train").iterdir() if p.is_dir())]
        for rank in range(max(*sizes, args.flip_images) // len(per_class)):  # interleaved: the first N rows hold every class
            train_rows += [f"{files[rank].resolve()},{files[rank].parent.name}" for files in per_class]
        for files in per_class:
            val_rows += [f"{f.resolve()},{f.parent.name}" for f in files if VAL_FROM <= int(f.stem) < VAL_FROM + args.val_per_class]
        cifar_train = load_data(_write(Path(folder) / "train.csv", train_rows))
        cifar_val = load_data(_write(Path(folder) / "val.csv", val_rows))
        digits = load_data("digits")
        datasets = {"cifar10": (cifar_train, cifar_val),
                    "digits": (digits.subset(np.arange(1100)), digits.subset(np.arange(1100, 1797)))}

        flips = Table(title="hflip auto on CIFAR-10 (nearest-neighbour label agreement: images / mirrors)")
        for column in ("images", "agreement", "mirrors", "flips"):
            flips.add_column(column, justify="right")
        for n in sorted({100, 500, args.flip_images}):
            keep, plain, mirrored = flips_keep_classes(cifar_train.subset(np.arange(n)).images(), cifar_train.y[:n])
            flips.add_row(f"{n:,}", f"{plain:.3f}", f"{mirrored:.3f}", "on" if keep else "off")

        table = Table(title=f"small data: default recipe, 0.1.0's small-data defaults against today's "
                            f"({args.seeds} seeds)")
        for column in ("data", "images", "arm", "batch", "hflip", "val accuracy (mean ± sd)"):
            table.add_column(column, justify="right" if column not in ("data", "arm") else "left")
        gains = []
        for name, (train, val) in datasets.items():
            for n in sizes:
                subset = train.subset(np.arange(n))
                means = {}
                for arm, overrides in (("0.1.0", {"batch_size": old_batch(n), "hflip": True}), ("today", {})):
                    scores, run = [], None
                    for seed in range(args.seeds):
                        run = autorecipe.fit(_arrays(subset), val=_arrays(val), overrides=overrides, seed=seed, device=args.device,
                                             out=Path(folder) / f"{name}-{n}-{arm}-{seed}", progress=False)
                        scores.append(run.metrics["val_accuracy"])
                    means[arm] = statistics.mean(scores)
                    table.add_row(name, str(n), arm, str(run.metrics["batch_size"]),
                                  str(run.recipe.regularization.hflip).lower(),
                                  f"{100 * means[arm]:.2f} ± {100 * statistics.pstdev(scores):.2f}")
                gains.append(means["today"] - means["0.1.0"])
    console = Console(width=120)
    console.print(flips)
    console.print(table)
    print(f"today - 0.1.0: {100 * statistics.mean(gains):+.2f} points (mean over {len(gains)} cells)")


def _arrays(data):
    """(x, y) arrays of loaded images, as fit takes them."""
    import numpy as np
    return np.transpose(data.images(), (0, 2, 3, 1)), data.y


def _write(path: Path, rows: list[str]) -> str:
    path.write_text("\n".join(rows) + "\n")
    return str(path)


if __name__ == "__main__":
    main()
