"""Ablation of a recipe that differs from the baselines in every bucket, on 10,000 images of the CIFAR-10 protocol.

The first --train-per-class files of every class of the protocol's training part are the data, the protocol's
validation files (--val-per-class of every class) the validation images; `autorecipe.ablate` trains every arm
(leave one bucket out, the cumulative path, the interaction of the two largest effects) with --seeds seeds and
--epochs epochs a fit, resuming per cell from --out, and writes its report (--out/ablation/report.html). The
finished cells (plan.json, cells.jsonl under --out/ablation) are kept in the repository, so a run goes on
across machines; the manifests and the cells' run folders are not. The recipe: --recipe, or benchmarks/ablation_recipe.yaml
(a hand-written one with a change in every bucket: SiLU and squeeze-excitation, training at 28 px, the default
regularization and optimization, which differ from their baselines).

    python benchmarks/ablation.py ../shared/data/cifar10 [--recipe R] [--seeds 3] [--epochs 10] [--out benchmarks/ablation-cifar10]

Headline (last line): full - baseline, and the bucket that contributed most, with their paired intervals.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from provenance import commit, machine

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VAL_FROM = 4500
RECIPE = Path(__file__).parent / "ablation_recipe.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the cifar10 folder of the shared data")
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="a recipe file, run folder or search folder")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--val-per-class", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "ablation-cifar10",
                        help="the manifests and the ablation's folder (resumes)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import autorecipe
    train, val = _manifests(args.root.resolve(), args.out, args.train_per_class, args.val_per_class)
    resume = (args.out / "ablation" / "plan.json").exists()
    result = autorecipe.ablate(args.recipe, str(train), val=str(val), seeds=args.seeds,
                               budget=f"{args.epochs} epochs", out=args.out / "ablation", resume=resume,
                               device=args.device,
                               on_plan=lambda arms, fits, estimate: print(f"{len(arms)} arm(s) x {args.seeds} seed(s): "
                                                                         f"{fits} fit(s) to run, {estimate}", flush=True),
                               on_cell=lambda cell, n, total: print(f"[{n}/{total}] {cell['arm']} seed {cell['seed']}: "
                                                                    f"{100 * cell['val_accuracy']:.2f}% "
                                                                    f"({cell['seconds']:.0f} s)", flush=True))
    report = autorecipe.report(args.out / "ablation")
    print(f"report: {report}")
    print(f"commit {commit()}, {machine()}; {args.train_per_class * 10} training and {args.val_per_class * 10} "
          f"validation images, {args.epochs} epochs a fit, {args.seeds} seeds")
    print(f"{'arm':48} {'mean %':>8} {'std':>6}  95% interval")
    for score in result.scores.values():
        low, high = score.interval()
        print(f"{score.name:48} {100 * score.mean:8.2f} {100 * score.std:6.2f}  [{100 * low:.2f}, {100 * high:.2f}]")
    print("path (waterfall):")
    for step in result.steps:
        print(f"  {step.verdict()}")
    for line in result.verdicts():
        print(line)
    top = max(result.buckets, key=lambda e: abs(e.bootstrap.mean))
    print(f"{result.total.verdict()}; the largest bucket: {top.verdict()}")


def _manifests(root: Path, work: Path, per_class: int, val_per_class: int) -> tuple[Path, Path]:
    """CSV files of the first `per_class` training files of every class and of the validation files."""
    work.mkdir(parents=True, exist_ok=True)
    train, val = work / f"train-{per_class}.csv", work / f"val-{val_per_class}.csv"
    train.write_text("path,label\n" + "".join(f"{root / 'train' / c / f'{i:04d}.jpg'},{c}\n"
                                              for c in CLASSES for i in range(per_class)))
    val.write_text("path,label\n" + "".join(f"{root / 'train' / c / f'{i:04d}.jpg'},{c}\n"
                                            for c in CLASSES for i in range(VAL_FROM, VAL_FROM + val_per_class)))
    return train, val


if __name__ == "__main__":
    main()
