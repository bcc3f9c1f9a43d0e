"""autorecipe search (TPE + Hyperband, warm-started) against random search and the default recipe.

CIFAR-10 protocol subset, sized for a 2-core CPU:
- search data: the first --train-per-class files (0000..) of every class as training images, and
  --holdout-per-class files from 4000.. as the search's validation images (all in the protocol's
  training part);
- every arm's final model is trained on the search's training images for --epochs epochs and
  scored on a fixed stratified subset of the protocol validation files: the first
  --val-per-class of 4500..4999 of every class;
- same compute per search: --budget-epochs epochs of training (pruned trials count what they
  ran); a trial at full budget trains --epochs epochs. Random search uses the random sampler
  with no pruning and no warm start; the default recipe is trained once, at --epochs.
- the space is the knob declarations of all four buckets, narrowed by a space file so a trial
  fits the CPU: resnet9 only, width 0.25..0.5, batch 32 or 64, 32 px, automatic precision, no
  torch.compile;
- one torch thread (--threads): the 2-core machine is shared with other jobs, and two OpenMP
  threads on an oversubscribed machine train ~10x slower than one.

Also measured, from random search's full learning curves: how often the trial that wins at
full budget would have been killed by successive halving (keep the top third) at a first rung
of r epochs; this is what the default minimum resource (a quarter of a trial's epochs) guards.

    python benchmarks/search_efficiency.py ../shared/data/cifar10 [--seeds 3] [--budget-epochs 48] [--epochs 8]

Headline (last line): autorecipe minus random, in accuracy points (mean over seeds).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HOLDOUT_FROM, VAL_FROM = 4000, 4500
SPACE = {"model": ["resnet9"], "width": [0.25, 0.5], "batch_size": [32, 64], "image_size": 32, "precision": "auto",
         "compile": False}


def write_manifests(root: Path, folder: Path, train_n: int, holdout_n: int, val_n: int) -> tuple[Path, Path, Path]:
    """CSV manifests: search training images, search validation images, protocol validation subset."""
    parts = {"train": [], "holdout": [], "val": []}
    for name in sorted(p.name for p in (root / "train").iterdir() if p.is_dir()):
        for file in sorted((root / "train" / name).glob("*.jpg")):
            index = int(file.stem)
            part = ("train" if index < train_n else "holdout" if HOLDOUT_FROM <= index < HOLDOUT_FROM + holdout_n
                    else "val" if VAL_FROM <= index < VAL_FROM + val_n else None)
            if part:
                parts[part].append(f"{file.resolve()},{name}")
    paths = []
    for part, rows in parts.items():
        (folder / f"{part}.csv").write_text("\n".join(["path,label"] + rows) + "\n")
        paths.append(folder / f"{part}.csv")
    return tuple(paths)


def killed_at(curves: list[dict[int, float]], final: list[float], rung: int, eta: int = 3) -> bool:
    """Whether the full-budget winner ranks outside the top 1/eta at epoch `rung`."""
    winner = max(range(len(final)), key=final.__getitem__)
    at_rung = [c[rung] for c in curves]
    keep = max(1, math.ceil(len(curves) / eta))
    rank = sorted(range(len(curves)), key=lambda i: -at_rung[i]).index(winner)
    return rank >= keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=Path("../shared/data/cifar10"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget-epochs", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-per-class", type=int, default=100)
    parser.add_argument("--holdout-per-class", type=int, default=50)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="search-efficiency-"))
    os.environ.setdefault("AUTORECIPE_LIBRARY", str(work / "library"))  # never the user's library

    import autorecipe
    from optuna.trial import TrialState

    train_csv, holdout_csv, val_csv = write_manifests(args.root, work, args.train_per_class,
                                                      args.holdout_per_class, args.val_per_class)
    base = {"epochs": args.epochs}
    scores: dict[str, list[float]] = {"default recipe": [], "random search": [], "autorecipe search": []}
    spent: dict[str, list[str]] = {name: [] for name in scores}
    rungs = sorted({1, max(1, args.epochs // 8), math.ceil(args.epochs / 4), args.epochs // 2})
    killed = {r: 0 for r in rungs}
    start = time.perf_counter()
    for seed in range(args.seeds):
        def final(recipe, name: str) -> None:
            run = autorecipe.fit(train_csv, val=val_csv, recipe=recipe, device=args.device, seed=seed,
                                 out=work / f"{name}-{seed}")
            scores[name].append(run.metrics["val_accuracy"])

        final(autorecipe.Recipe().with_values({**base, "image_size": 32}), "default recipe")
        spent["default recipe"].append(f"{args.epochs}")
        for name, options in (("random search", dict(sampler="random", pruner="none", warm_start=False)),
                              ("autorecipe search", {})):
            found = autorecipe.search(train_csv, val=holdout_csv, budget=f"{args.budget_epochs} epochs",
                                      overrides=base, space=SPACE, out=work / f"{name}-{seed}-study",
                                      seed=seed, device=args.device, retrain=False, library=False, **options)
            final(found.recipe, name)
            spent[name].append(f"{sum(t.user_attrs.get('epochs_run', 0) for t in found.study.trials)}"
                               f" ({len(found.study.trials)} trials)")
            if name == "random search":
                full = [t for t in found.study.trials
                        if t.state == TrialState.COMPLETE and len(t.intermediate_values) == args.epochs]
                if len(full) >= 3:
                    curves = [t.intermediate_values for t in full]
                    for rung in rungs:
                        killed[rung] += killed_at(curves, [t.value for t in full], rung)
        print(f"seed {seed} done after {time.perf_counter() - start:.0f} s", flush=True)

    console = Console(width=140)
    pruning = Table(title=f"minimum resource: would successive halving (eta 3) kill random search's "
                          f"full-budget winner at a first rung of r epochs? ({args.seeds} seeds)")
    pruning.add_column("first rung r (epochs)", justify="right")
    pruning.add_column("winner killed", justify="right")
    for rung in rungs:
        pruning.add_row(f"{rung} of {args.epochs}" + ("  (default)" if rung == math.ceil(args.epochs / 4) else ""),
                        f"{killed[rung]} of {args.seeds}")
    console.print(pruning)

    table = Table(title=f"search efficiency, CIFAR-10 subset: {args.train_per_class}/class train, "
                        f"{args.holdout_per_class}/class search validation, scored on protocol validation "
                        f"{args.val_per_class}/class; {args.budget_epochs} epochs per search, "
                        f"{args.epochs} per trial; {args.seeds} seeds; cpu, {args.threads} thread(s)")
    table.add_column("arm")
    for seed in range(args.seeds):
        table.add_column(f"seed {seed}", justify="right")
    table.add_column("mean ± std", justify="right")
    table.add_column("epochs spent per seed", justify="right")
    for name, values in scores.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        table.add_row(name, *[f"{100 * v:.2f}%" for v in values],
                      f"{100 * statistics.mean(values):.2f} ± {100 * std:.2f}", ", ".join(spent[name]))
    console.print(table)
    gap = 100 * (statistics.mean(scores["autorecipe search"]) - statistics.mean(scores["random search"]))
    over_default = 100 * (statistics.mean(scores["autorecipe search"]) - statistics.mean(scores["default recipe"]))
    print(f"wall time {time.perf_counter() - start:.0f} s; autorecipe minus default: {over_default:+.2f} points")
    print(f"autorecipe minus random search: {gap:+.2f} accuracy points "
          f"(mean of {args.seeds} seeds, {args.budget_epochs} epochs of compute each)")


if __name__ == "__main__":
    main()
