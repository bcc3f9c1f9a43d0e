"""The model zoo on CIFAR-10: parameters, training images/s and validation accuracy per architecture.

Every architecture trains with the default recipe (width 0.5, bf16 where the CPU has it)
for the same fixed wall-clock budget (default 60 s, the learning-rate schedule annealed to
the budget) on a stratified training subset of the protocol split (the first
`--train-per-class` training files of each class, default 500: 5,000 images), at 32 px.
Accuracy is measured on a fixed stratified subset of the protocol validation files (files
4500 .. 4500 + `--val-per-class` - 1 of each class, default 100: 1,000 images). Decoding is
cached once and shared by all architectures. Headline (last line): the most accurate
architecture within the budget, and the benchmark's wall time.

    python benchmarks/zoo.py [../shared/data/cifar10] [--seconds 60] [--train-per-class 500]
                             [--val-per-class 100] [--models resnet9,vgg11] [--device auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

VAL_FROM = 4500  # protocol: files 4500..4999 of each class are the validation split
DEFAULT_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cifar10"


def manifests(root: Path, folder: Path, train_per_class: int, val_per_class: int) -> tuple[Path, Path]:
    """CSV manifests of the training subset and the validation subset."""
    train, val = ["path,label"], ["path,label"]
    for directory in sorted(p for p in (root / "train").iterdir() if p.is_dir()):
        files = sorted(directory.glob("*.jpg"))
        train += [f"{f.resolve()},{directory.name}" for f in files if int(f.stem) < VAL_FROM][:train_per_class]
        val += [f"{f.resolve()},{directory.name}" for f in files
                if VAL_FROM <= int(f.stem) < VAL_FROM + val_per_class]
    (folder / "train.csv").write_text("\n".join(train) + "\n")
    (folder / "val.csv").write_text("\n".join(val) + "\n")
    return folder / "train.csv", folder / "val.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=DEFAULT_ROOT, help="the cifar10 folder")
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget per architecture")
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--models", help="comma-separated model names (default: the whole zoo)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import autorecipe
    from autorecipe.architecture import MODELS

    models = args.models.split(",") if args.models else list(MODELS)
    work = Path(tempfile.mkdtemp(prefix="zoo-"))
    train_csv, val_csv = manifests(args.root, work, args.train_per_class, args.val_per_class)
    start = time.perf_counter()
    rows = []
    for name in models:
        run = autorecipe.fit(train_csv, val=val_csv, overrides={"model": name}, epochs=1000,
                             time_budget=args.seconds, device=args.device, out=work / name)
        m = run.metrics
        params = sum(p.numel() for p in run.model.parameters())
        rows.append((name, params, m["images_per_second"], m["epochs_run"], m["val_accuracy"] or 0.0))
        print(f"{name}: {params / 1e6:.2f}M parameters, {m['images_per_second']:,.0f} images/s, "
              f"{100 * (m['val_accuracy'] or 0):.2f}%", flush=True)
    wall = time.perf_counter() - start
    device, precision = m["device"], m["precision"]
    table = Table(title=f"model zoo on CIFAR-10, 32 px, default recipe (width 0.5), {args.seconds:g} s of "
                        f"training each on {10 * args.train_per_class:,} training images (first "
                        f"{args.train_per_class} per class), validation on {10 * args.val_per_class:,} "
                        f"protocol files ({args.val_per_class} per class), {device} ({precision})")
    for column in ("model", "parameters", "training images/s", "epochs", "validation accuracy"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, params, rate, epochs, accuracy in rows:
        table.add_row(name, f"{params / 1e6:.2f}M", f"{rate:,.0f}", str(epochs), f"{100 * accuracy:.2f}%")
    Console(width=120).print(table)
    best = max(rows, key=lambda r: r[4])
    print(f"most accurate in {args.seconds:g} s: {best[0]} at {100 * best[4]:.2f}% "
          f"({len(rows)} architectures, {wall / 60:.1f} min wall)")


if __name__ == "__main__":
    main()
