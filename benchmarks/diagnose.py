"""diagnose's finders on planted problems, and what dropping the flagged labels gains, on the CIFAR-10 protocol.

Per seed: a 10,000-image subset of the protocol's training part (--per-class first files of every class),
5% of its labels flipped to another class at random and 200 of its images replaced by near-duplicates of 200
others (every other one re-encoded as JPEG at quality 30..70, the rest resized to 20..28 px; written under
--work, outside the repository), both drawn with the seed. The cells of a seed: `diagnose` on it (the
protocol's validation files, --val-per-class a class, as --val; --budget a fit: epochs), the recall of each
finder on the planted cases and the flagged cases that were not planted counted apart (CIFAR-10 holds
near-duplicates of its own, and wrong labels); then a fit on it as it is and a fit with the flagged labels
dropped (fit --flagged), both scored on the clean validation images. Each finished cell is one line of
--results (resumes per cell: seed, arm).

    python benchmarks/diagnose.py ../shared/data/cifar10 [--seeds 3] [--epochs 10] [--results benchmarks/diagnose.jsonl]

Headline (last line): recall of the near-duplicate and label finders, and the accuracy gain of dropping the
flagged labels with its paired interval over seeds.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from provenance import commit, machine

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VAL_FROM = 4500
FLIPPED_SHARE, PLANTED = 0.05, 200
ARMS = ("diagnose", "fit_noisy", "fit_dropped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the cifar10 folder of the shared data")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of every fit (diagnose's seven and the two)")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--val-per-class", type=int, default=200)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KNOB=VALUE",
                        help="a knob of every fit's recipe (default: the default recipe)")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "diagnose.jsonl")
    parser.add_argument("--work", type=Path, default=Path("/tmp/autorecipe-diagnose-benchmark"),
                        help="the planted copies, manifests and run folders (not kept)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import autorecipe
    done = _read(args.results)
    val = _val_manifest(args.root.resolve(), args.work, args.val_per_class)
    for seed in range(args.seeds):
        train, flipped, planted = _corrupted(args.root.resolve(), args.work / f"seed{seed}", args.per_class, seed)
        folder = args.work / f"seed{seed}"
        if (seed, "diagnose") not in done or not (folder / "diagnose" / "label_issues.csv").exists():
            began = time.perf_counter()
            found = autorecipe.diagnose(str(train), val=str(val), budget=f"{7 * args.epochs} epochs",
                                        overrides=args.overrides, out=folder / "diagnose", seed=seed,
                                        device=args.device)
            _write(args.results, done, {"seed": seed, "arm": "diagnose", **_recall(found, flipped, planted),
                                        "seconds": time.perf_counter() - began})
        for arm, flagged in (("fit_noisy", None), ("fit_dropped", folder / "diagnose")):
            if (seed, arm) in done:
                continue
            began = time.perf_counter()
            run = autorecipe.fit(str(train), val=str(val), overrides=args.overrides, epochs=args.epochs, seed=seed,
                                 flagged=flagged, out=folder / arm, progress=False, device=args.device)
            _write(args.results, done, {"seed": seed, "arm": arm, "val_accuracy": run.metrics["val_accuracy"],
                                        "flagged_images": run.metrics.get("flagged_images", 0),
                                        "seconds": time.perf_counter() - began})
    _table(done, args)


def _corrupted(root: Path, work: Path, per_class: int, seed: int) -> tuple[Path, set[str], dict[str, str]]:
    """The seed's manifest: labels flipped (the set of their paths) and near-duplicates planted (copy -> original)."""
    rng = np.random.default_rng(seed)
    rows = [(str(root / "train" / c / f"{i:04d}.jpg"), c) for c in CLASSES for i in range(per_class)]
    order = rng.permutation(len(rows))
    replaced, originals = order[:PLANTED], order[PLANTED:2 * PLANTED]
    (work / "copies").mkdir(parents=True, exist_ok=True)
    planted = {}
    for k, (slot, source) in enumerate(zip(replaced, originals)):
        path, label = rows[source]
        copy = work / "copies" / f"{k:03d}.png"
        _near_copy(Image.open(path).convert("RGB"), k, rng).save(copy)
        rows[slot] = (str(copy), label)
        planted[str(copy)] = path
    flip = rng.choice(len(rows), size=int(FLIPPED_SHARE * len(rows)), replace=False)
    for i in flip:
        path, label = rows[i]
        rows[i] = (path, str(rng.choice([c for c in CLASSES if c != label])))
    manifest = work / "train.csv"
    with manifest.open("w", newline="") as f:
        csv.writer(f).writerows([("path", "label"), *rows])
    return manifest, {rows[i][0] for i in flip}, planted


def _near_copy(image: Image.Image, k: int, rng: np.random.Generator) -> Image.Image:
    """A re-encoded (even k) or resized (odd k) copy."""
    if k % 2 == 0:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(30, 71)))
        buffer.seek(0)
        return Image.open(buffer).convert("RGB")
    side = int(rng.integers(20, 29))
    return image.resize((side, side), Image.Resampling.BILINEAR)


def _val_manifest(root: Path, work: Path, per_class: int) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"val-{per_class}.csv"
    path.write_text("path,label\n" + "".join(f"{root / 'train' / c / f'{i:04d}.jpg'},{c}\n"
                                             for c in CLASSES for i in range(VAL_FROM, VAL_FROM + per_class)))
    return path


def _recall(found, flipped: set[str], planted: dict[str, str]) -> dict:
    """Each finder's recall on the planted cases, and the flagged cases that were not planted."""
    pairs = [(p["image_a"], p["image_b"]) for p in found.duplicates if p["set_a"] == p["set_b"] == "train"]
    hit = {a if a in planted else b for a, b in pairs if planted.get(a) == b or planted.get(b) == a}
    other_pairs = len(pairs) - len(hit)
    flagged = {row["image"] for row in found.label_issues}
    return {"duplicates_found": len(hit), "duplicates_planted": len(planted), "other_duplicate_pairs": other_pairs,
            "labels_found": len(flagged & flipped), "labels_flipped": len(flipped),
            "other_flagged_labels": len(flagged - flipped),
            "learning_curve": found.learning_curve["kind"] if found.learning_curve else None,
            "needs": [n["need"] for n in found.needs]}


def _read(path: Path) -> dict:
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a kill mid-write: that cell runs again
                continue
            done[row["seed"], row["arm"]] = row
    return done


def _write(path: Path, done: dict, row: dict) -> None:
    row = {**row, "commit": commit(), "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    done[row["seed"], row["arm"]] = row
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def _table(done: dict, args) -> None:
    from autorecipe.statistics import paired_t_interval
    seeds = sorted({seed for seed, _ in done})
    print(f"commit {commit()}, {machine()}; {10 * args.per_class} training images ({FLIPPED_SHARE:.0%} of labels "
          f"flipped, {PLANTED} near-duplicates planted), {10 * args.val_per_class} validation; {args.epochs} epochs a fit")
    print(f"{'seed':>4} {'dups found':>11} {'other pairs':>11} {'labels found':>13} {'other flagged':>13} "
          f"{'noisy %':>8} {'dropped %':>9}")
    for seed in seeds:
        d, noisy, dropped = (done.get((seed, arm), {}) for arm in ARMS)
        print(f"{seed:>4} {d.get('duplicates_found', '-'):>5}/{d.get('duplicates_planted', '-'):<5} "
              f"{d.get('other_duplicate_pairs', '-'):>11} {d.get('labels_found', '-'):>6}/{d.get('labels_flipped', '-'):<6} "
              f"{d.get('other_flagged_labels', '-'):>13} {_pct(noisy.get('val_accuracy')):>8} "
              f"{_pct(dropped.get('val_accuracy')):>9}")
    diagnosed = [done[s, "diagnose"] for s in seeds if (s, "diagnose") in done]
    both = [s for s in seeds if (s, "fit_noisy") in done and (s, "fit_dropped") in done]
    if not diagnosed:
        return
    dup = sum(d["duplicates_found"] for d in diagnosed) / sum(d["duplicates_planted"] for d in diagnosed)
    lab = sum(d["labels_found"] for d in diagnosed) / sum(d["labels_flipped"] for d in diagnosed)
    gain = "not measured"
    if len(both) >= 2:
        diff = paired_t_interval([done[s, "fit_dropped"]["val_accuracy"] for s in both],
                                 [done[s, "fit_noisy"]["val_accuracy"] for s in both])
        gain = f"{diff.points()} over {len(both)} seeds"
    elif both:
        gain = f"{100 * (done[both[0], 'fit_dropped']['val_accuracy'] - done[both[0], 'fit_noisy']['val_accuracy']):+.2f} points (1 seed)"
    print(f"near-duplicate recall {100 * dup:.1f}%, flipped-label recall {100 * lab:.1f}% over {len(diagnosed)} "
          f"seed(s); dropping the flagged labels: {gain}")


def _pct(value) -> str:
    return f"{100 * value:.2f}" if value is not None else "-"


if __name__ == "__main__":
    main()
