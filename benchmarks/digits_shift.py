"""Does switching the shift augmentation off win on digits from the training writers, and lose on new writers?

The search suite's digits task trains on the first 1,000 of the built-in digits and tests on the other 797,
which come from other writers (the set is ordered by writer). Its searches adopted `translate: 0` on
seeds 1 and 2 (winning on validation images, losing on test). This benchmark fits the default recipe and
the default with `translate: 0` on the same images and seeds, and scores both on images the search could
see the like of (the training writers) and on the new writers.

Per seed, on the first 1,000 (both arms train and select on the same images):
  holdout  a stratified split into training (70%), validation (10%: the kept weights, as in the suite) and
           a random holdout (20%), scored; the same model is scored on the new writers;
  blocked  cross-fitted halves as the search's confirmation reruns make them, but each class's half a
           contiguous run of its images in the set's order (mostly other writers): trained on one half,
           kept and scored on the other, both ways.

    python benchmarks/digits_shift.py [--seeds 8] [--epochs 8]

Headline (last line): translate 0 - default on the training writers and on the new ones, with intervals.
"""

from __future__ import annotations

import argparse

import numpy as np

ARMS = {"default": {}, "translate 0": {"translate": 0.0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import autorecipe
    from autorecipe.data.split import stratified_split
    from autorecipe.statistics import paired_bootstrap
    from rich.console import Console
    from rich.table import Table
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images * (255 / 16)).round().astype(np.uint8)[..., None]
    known_x, known_y, new_x, new_y = x[:1000], digits.target[:1000], x[1000:], digits.target[1000:]
    scores = {arm: {"holdout": [], "new writers": [], "blocked": []} for arm in ARMS}
    for seed in range(args.seeds):
        # Split the training writers' images: training + validation, and a holdout
        rest, holdout = stratified_split(known_y, 0.2, seed)
        train, val = (rest[i] for i in stratified_split(known_y[rest], 0.125, seed))
        for arm, overrides in ARMS.items():
            run = autorecipe.fit((known_x[train], known_y[train]), val=(known_x[val], known_y[val]),
                                 epochs=args.epochs, seed=seed, overrides=overrides, device=args.device,
                                 progress=False)
            for part, (images, labels) in {"holdout": (known_x[holdout], known_y[holdout]),
                                           "new writers": (new_x, new_y)}.items():
                predicted = [run.classes.index(top[0][0]) for top in run.predict(images)]
                scores[arm][part].append(np.array(predicted) == labels)
        # Cross-fit over blocked halves of the training writers' images
        for arm, overrides in ARMS.items():
            parts = []
            for train, score in _blocked_halves(known_y, seed):
                run = autorecipe.fit((known_x[train], known_y[train]), val=(known_x[score], known_y[score]),
                                     epochs=args.epochs, seed=seed, overrides=overrides, device=args.device,
                                     progress=False)
                predicted = [run.classes.index(top[0][0]) for top in run.predict(known_x[score])]
                parts.append(np.array(predicted) == known_y[score])
            scores[arm]["blocked"].append(np.concatenate(parts))

    table = Table(title=f"digits: default against translate 0 ({args.seeds} seeds, {args.epochs} epochs)")
    for column in ("images", "default %", "translate 0 %", "translate 0 - default (points)", "95% interval"):
        table.add_column(column, justify="left" if column == "images" else "right")
    gains = {}
    names = {"holdout": "training writers (random holdout)", "blocked": "training writers (blocked halves)",
             "new writers": "new writers (the suite's test)"}
    for part, name in names.items():
        base, off = (np.stack(scores[arm][part]).astype(float) for arm in ARMS)
        gains[part] = gain = paired_bootstrap(off, base)
        table.add_row(name, f"{100 * base.mean():.2f}", f"{100 * off.mean():.2f}", f"{100 * gain.mean:+.2f}",
                      f"[{100 * gain.low:+.2f}, {100 * gain.high:+.2f}]")
    Console(width=150).print(table)
    print(f"translate 0 - default: training writers {gains['holdout'].points()} (blocked halves "
          f"{gains['blocked'].points()}), new writers {gains['new writers'].points()}")


def _blocked_halves(labels: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Two (train, score) folds: per class, a contiguous (circular) run of half its images in the set's
    order, starting at a seeded place, against the rest."""
    rng = np.random.default_rng(seed)
    first = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        first.extend(np.roll(members, -rng.integers(len(members)))[:len(members) // 2])
    first = np.sort(np.array(first))
    second = np.setdiff1d(np.arange(len(labels)), first)
    return [(first, second), (second, first)]


if __name__ == "__main__":
    main()
