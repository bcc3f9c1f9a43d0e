"""The search against the default recipe at the same compute, on six kinds of data nobody tuned it for.

Tasks (at most 2,000 training images each, test images that no search or fit ever sees):
  cifar10      CIFAR-10 at 32 px: files 0000..0199 of every class
  gray         the same images in grayscale
  upscaled64   1,000 images (0000..0099 of every class) upscaled to 64 px
  longtail     long-tailed CIFAR-10, imbalance ratio 10: 400 images of the first class down to 40 of the last
  noisy        cifar10's images with 10% of the training labels flipped to another class (test labels clean)
  digits_shuffled  the built-in digits: a seeded stratified 797 for test, the other 1,000 for training
  digits       (reported apart: a shift no validation split can show) the built-in digits in their order:
               the first 1,000 for training, the other 797 for test; the set is ordered by writer, so
               its test writers are not among the training ones (benchmarks/digits_shift.py measures it)
  synthetic    (reported apart: built to be won) arrows pointing left or right, red or green: a flip or
               a colour change alters the class
CIFAR-10 test images are files 4000..4099 of each class of the shared training part (outside every task's
training and validation images; the protocol's validation files 4500.. are not used), in the task's own
class proportions (long-tailed for longtail). Each task's validation split is a seeded stratified 10% of
its training images, the same for every arm of a seed. A search's library holds no entry of a task on
the same images (digits and digits_shuffled).

Arms of each cell (task, seed), each trial 8 epochs (--epochs):
  default  the default recipe, one fit;
  search   `autorecipe.search` with 10 default fits of compute (--fits x --epochs epochs, counting every
           trial and confirmation rerun), the library leave-one-task-out: only other tasks' searches'
           chosen recipes. Its model is the chosen recipe fitted with the cell's seed (what search's
           retrain does); when the search returns the default recipe, that is the default arm's model;
  candidate the search's best other recipe fitted with the cell's seed, adopted or not (what adopting
           every candidate would have scored: the cost of the adoption rule's caution);
  random   random search at the same compute, no pruning, from the default recipe alone (no library, no known
           strong recipes), so that its cost guard and adoption rule are the search's, and image sizes half
           to twice the task's own (--random-tasks only; rows of the earlier designs, with no warm start at
           all or sizes up to 224 px, are ignored and run again);
  aa       the A/A check: the default recipe against itself, judged by the search's adoption rule (would it
           have switched?): its confirmation reruns cross-fitted as the search's are (the same halves of
           the labelled images), the "candidate" trained with new seeds (seed + AA_SEEDS + r).
The search and random arms get the task's labelled images pooled and split them themselves (the same
seeded split as the other arms'), so the search's confirmation reruns are cross-fitted over all of them.

Each finished arm is one line of --results (JSON); a rerun skips what is there, and a search cut off by a
kill resumes from its study in --work. Report: per task, mean test accuracy of each arm, the gain of
search over default with a 95% paired bootstrap interval over seeds and test images, wins/ties/losses
(a tie: the same test predictions); overall over the six headline tasks; A/A false adoption. The
search's result is computed from its validation pairs under the adoption rule of the code that runs the
report (adopted: the candidate arm's test predictions; else the default's), so a change of the rule
re-scores every finished cell; the rule's levels table compares rules after the fact.

    python benchmarks/search_suite.py ../shared/data/cifar10 [--seeds 3] [--results R.jsonl] [--work DIR]
        [--hours H] [--write-library FILE] [--report-only]

Headline (last line): overall mean gain of search over the default recipe, with its interval.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provenance import commit, machine

HEADLINE = ("cifar10", "gray", "upscaled64", "longtail", "noisy", "digits_shuffled")
TASKS = HEADLINE + ("digits", "synthetic")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TEST_FROM, TEST_PER_CLASS = 4000, 100
AA_SEEDS = 100  # the A/A arm's new seeds: seed + AA_SEEDS and the ones after
RANDOM_DESIGN = 3  # the random arm's design: from the default recipe alone, sizes near the task's own
#                   (1: no warm start at all; 2: from the default recipe, sizes 16 to 224 px)


@dataclass
class Task:
    """One task's images as uint8 arrays (N, H, W, C): training (with its validation split) and test."""

    x: np.ndarray  # every labelled image, before the validation split (what the search gets)
    y: np.ndarray
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the cifar10 folder of the shared data")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--random-tasks", default="cifar10,digits_shuffled",
                        help="tasks that also run random search")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the default fit and of one trial")
    parser.add_argument("--fits", type=int, default=10, help="a search's compute, in default fits")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/search_suite.jsonl"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/search_suite"), help="studies and runs")
    parser.add_argument("--hours", type=float, default=None, help="start no new arm after this many hours")
    parser.add_argument("--write-library", type=Path, help="write the searches' chosen recipes as a library file")
    parser.add_argument("--report-only", action="store_true", help="print the report of the finished arms; run none")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    done = _read(args.results)
    _backfill(done, args.work, args.results)
    tasks = [t for t in args.tasks.split(",") if t]
    if args.write_library:
        _write_library(done, args.write_library)
        return
    if args.report_only:
        report(done, tasks, args.seeds, args.work)
        return
    start = time.monotonic()
    cells = [(task, seed, arm) for seed in range(args.seeds) for task in tasks
             for arm in ("default", "search", "candidate")]
    cells += [(task, seed, "random") for seed in range(args.seeds) for task in tasks
              if task in args.random_tasks.split(",")]
    cells += [(task, seed, "aa") for seed in range(args.seeds) for task in tasks]
    for task, seed, arm in cells:
        if (task, seed, arm) in done:
            continue
        if args.hours is not None and time.monotonic() - start > args.hours * 3600:
            print(f"stopping: {args.hours} h spent; rerun to go on", file=sys.stderr)
            break
        data = load_task(task, seed, args.root)
        began = time.monotonic()
        row = ARMS[arm](task, seed, data, done, args)
        row.update(task=task, seed=seed, arm=arm, seconds=round(time.monotonic() - began, 1), commit=commit(),
                   machine=machine())
        done[(task, seed, arm)] = row
        with args.results.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{task} seed {seed} {arm}: {row.get('accuracy', row.get('adopted'))} "
              f"({row['seconds']:.0f} s)", file=sys.stderr, flush=True)
    report(done, tasks, args.seeds, args.work)


# ---- tasks ---------------------------------------------------------------------------------------------

def load_task(name: str, seed: int, root: Path) -> Task:
    """Task `name`'s images, with the validation split of `seed`."""
    from autorecipe.data.split import stratified_split
    x, y, test_x, test_y = _images(name, root)
    train_index, val_index = stratified_split(y, 0.1, seed)
    return Task(x, y, x[train_index], y[train_index], x[val_index], y[val_index], test_x, test_y)


def _images(name: str, root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train x, train y, test x, test y) of a task, before its validation split."""
    if name in ("digits", "digits_shuffled"):
        from sklearn.datasets import load_digits
        from autorecipe.data.split import stratified_split
        digits = load_digits()
        x, y = (digits.images * (255 / 16)).round().astype(np.uint8)[..., None], digits.target
        train, test = ((np.arange(1000), np.arange(1000, len(y))) if name == "digits"
                       else stratified_split(y, 797 / len(y), 12345))
        return x[train], y[train], x[test], y[test]
    if name == "synthetic":
        return (*_arrows(1200, 0), *_arrows(600, 1))
    per_class = {"upscaled64": [100] * 10, "longtail": [round(400 * 10 ** (-c / 9)) for c in range(10)]}.get(
        name, [200] * 10)
    test_per_class = [round(TEST_PER_CLASS * n / max(per_class)) for n in per_class]
    size, channels = (64 if name == "upscaled64" else 32), ("gray" if name == "gray" else "rgb")
    x, y = _cifar(root, [range(n) for n in per_class], size, channels)
    test_x, test_y = _cifar(root, [range(TEST_FROM, TEST_FROM + n) for n in test_per_class], size, channels)
    if name == "noisy":
        y = _flip_labels(y, 0.1)
    return x, y, test_x, test_y


def _cifar(root: Path, files: list[range], size: int, channels: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 files (the ranges of file numbers of each class) decoded at `size` px as (N, H, W, C)."""
    import tempfile
    from autorecipe.data.dataset import load_data
    rows = ["path,label"] + [f"{(root / 'train' / c / f'{i:04d}.jpg').resolve()},{c}"
                             for c, numbers in zip(CLASSES, files) for i in numbers]
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "images.csv"
        manifest.write_text("\n".join(rows) + "\n")
        data = load_data(str(manifest), size, channels)
    return np.ascontiguousarray(np.transpose(data.images(), (0, 2, 3, 1))), data.y


def _flip_labels(y: np.ndarray, fraction: float) -> np.ndarray:
    """`y` with `fraction` of its labels (a fixed draw) changed to another class."""
    rng = np.random.default_rng(12345)
    noisy = y.copy()
    chosen = rng.choice(len(y), size=round(fraction * len(y)), replace=False)
    noisy[chosen] = (y[chosen] + rng.integers(1, 10, size=len(chosen))) % 10
    return noisy


def _arrows(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Arrows on noise, 32 px: class = direction (left, right) x colour (red, green); a flip or a colour
    change alters the class."""
    rng = np.random.default_rng(1000 + seed)
    x = rng.integers(0, 90, size=(count, 32, 32, 3)).astype(np.uint8)
    y = rng.integers(0, 4, size=count)
    rows, cols = np.mgrid[0:32, 0:32]
    for i in range(count):
        cy, cx, half = rng.integers(10, 22), rng.integers(10, 22), rng.integers(5, 9)
        along = (cols - cx) if y[i] % 2 == 0 else (cx - cols)  # the tip points left (even classes) or right
        body = (np.abs(cols - cx) <= half) & (np.abs(rows - cy) <= (along + half) / 2)
        colour = np.array([200 + rng.integers(0, 55), rng.integers(0, 60), 0] if y[i] < 2
                          else [rng.integers(0, 60), 200 + rng.integers(0, 55), 0])
        x[i][body] = colour
    return x, y


# ---- arms ----------------------------------------------------------------------------------------------

def arm_default(task: str, seed: int, data: Task, done: dict, args) -> dict:
    return _fit_row(data, {}, seed, args, args.work / f"{task}-{seed}-default")


def arm_search(task: str, seed: int, data: Task, done: dict, args) -> dict:
    import autorecipe
    from autorecipe import Recipe
    from autorecipe.searching.adoption import paired_correctness
    from autorecipe.searching.search import trial_recipe
    out = args.work / f"{task}-{seed}-search"
    library = _library_without(task, done, args.work / f"{task}-{seed}-library")
    before = (library / "library.jsonl").read_text().splitlines()
    result = autorecipe.search((data.x, data.y), budget=f"{args.fits * args.epochs} epochs", epochs=args.epochs,
                               seed=seed, library=library, shipped_library=False, retrain=False, out=out,
                               resume=(out / "search.json").exists(),
                               device=args.device, progress=False)
    verdict = result.verdict
    paired = paired_correctness(result.study)  # for judging the rule at other levels in the report
    row = {"val_pairs": None if paired is None else paired.packed(),
           "adopted": bool(verdict and verdict.adopted), "verdict": verdict.to_dict() if verdict else None,
           "epochs_used": json.loads((out / "summary.json").read_text())["epochs_used"],
           "trials": result.counts, "library_used": sorted({json.loads(line)["description"] for line in before}),
           "recipe": result.recipe.to_dict(), "val_score": result.score}
    recorded = (library / "library.jsonl").read_text().splitlines()[len(before):]
    if recorded:  # the entry this search added: the suite's library, and the shipped one, hold it
        row["library_entry"] = {**json.loads(recorded[-1]), "description": task}
    if row["adopted"]:
        row.update(_fit_row(data, result.recipe, seed, args, args.work / f"{task}-{seed}-chosen"))
    else:  # the default recipe, fitted with the same seed on the same images: the default arm's model
        default = done.get((task, seed, "default")) or arm_default(task, seed, data, done, args)
        row.update(accuracy=default["accuracy"], test_correct=default["test_correct"], same_as_default=True)
    row["recipe_changes"] = Recipe.from_dict(row["recipe"]).changes_from(Recipe())
    number = verdict.candidate if verdict else None
    if number is not None:  # the candidate arm fits it, in this session or a later one (without the study)
        row["candidate_recipe"] = trial_recipe(out, number).to_dict()
    return row


def arm_candidate(task: str, seed: int, data: Task, done: dict, args) -> dict:
    """The search's best other recipe, fitted with the cell's seed whether or not the rule adopted it: what
    adopting every candidate would have scored (coverage against selection error)."""
    from autorecipe import Recipe
    from autorecipe.searching.search import trial_recipe
    search = done[(task, seed, "search")]
    number = (search.get("verdict") or {}).get("candidate_trial")
    if number is None:
        return {"candidate": None}
    if search["adopted"]:
        return {"candidate": number, "accuracy": search["accuracy"], "test_correct": search["test_correct"]}
    recipe = (Recipe.from_dict(search["candidate_recipe"]) if "candidate_recipe" in search
              else trial_recipe(args.work / f"{task}-{seed}-search", number))
    return {"candidate": number, **_fit_row(data, recipe, seed, args, args.work / f"{task}-{seed}-candidate")}


def arm_random(task: str, seed: int, data: Task, done: dict, args) -> dict:
    import autorecipe
    from autorecipe import Recipe
    out = args.work / f"{task}-{seed}-random"
    result = autorecipe.search((data.x, data.y), budget=f"{args.fits * args.epochs} epochs", epochs=args.epochs,
                               seed=seed, sampler="random", pruner="none", warm_start="base", library=False,
                               retrain=False, out=out, resume=(out / "search.json").exists(), device=args.device,
                               progress=False)
    verdict = result.verdict
    row = {"design": RANDOM_DESIGN, "adopted": bool(verdict and verdict.adopted), "trials": result.counts,
           "recipe_changes": result.recipe.changes_from(Recipe())}
    if not row["adopted"]:  # the default recipe, fitted with the same seed on the same images: the default arm's
        default = done.get((task, seed, "default")) or arm_default(task, seed, data, done, args)
        return {**row, "accuracy": default["accuracy"], "test_correct": default["test_correct"],
                "same_as_default": True}
    return {**row, **_fit_row(data, result.recipe, seed, args, args.work / f"{task}-{seed}-random-chosen")}


def arm_aa(task: str, seed: int, data: Task, done: dict, args) -> dict:
    """The adoption rule on the default recipe against itself: a first score with a new seed against the
    default arm's, then the confirmation reruns as the search makes them (each cross-fitted with seed + 1 + r
    over the labelled images in the search's order), the "candidate" trained with new seeds."""
    from autorecipe import Recipe
    from autorecipe.optimization.schedule import batch_size
    from autorecipe.searching.adoption import CONFIRM_SEEDS, Paired, confirmation_folds, unpack
    default = done.get((task, seed, "default")) or arm_default(task, seed, data, done, args)
    new = _fit_row(data, {}, seed + AA_SEEDS, args, args.work / f"{task}-{seed}-aa-first")
    x, y = np.concatenate([data.train_x, data.val_x]), np.concatenate([data.train_y, data.val_y])
    batch = batch_size(Recipe().optimization, len(data.train_x))  # a trial's, as the search's reruns train with
    reruns = {"base": [], "candidate": []}
    for r in range(CONFIRM_SEEDS):
        folds = confirmation_folds(y, seed + 1 + r)
        for name, train_seed in (("base", seed + 1 + r), ("candidate", seed + AA_SEEDS + r)):
            parts = [_fit_fold(x, y, train, score, train_seed, batch, args, args.work / f"{task}-{seed}-aa-{name}-{r}-{k}")
                     for k, (train, score) in enumerate(folds)]
            reruns[name].append(np.concatenate(parts))
    paired = Paired((unpack(new["val_correct"]), unpack(default["val_correct"])),
                    (np.stack(reruns["candidate"]), np.stack(reruns["base"])))
    gain = paired.gain()
    return {"adopted": gain.above_zero, "gain": gain.to_dict(), "val_pairs": paired.packed()}


def _fit_fold(x: np.ndarray, y: np.ndarray, train: np.ndarray, score: np.ndarray, seed: int, batch: int, args,
              out: Path) -> np.ndarray:
    """The default recipe with batch size `batch` fitted on images `train` (scored on `score` as its validation
    images): per image of `score`, right or wrong."""
    import autorecipe
    run = autorecipe.fit((x[train], y[train]), val=(x[score], y[score]), epochs=args.epochs, seed=seed, out=out,
                         overrides={"batch_size": batch}, device=args.device, progress=False)
    return _correct(run, x[score], y[score])


ARMS = {"default": arm_default, "search": arm_search, "candidate": arm_candidate, "random": arm_random,
        "aa": arm_aa}


def _fit_row(data: Task, recipe, seed: int, args, out: Path) -> dict:
    """Fit `recipe` (a Recipe, or overrides of the default) and score it per image on validation and test."""
    import autorecipe
    from autorecipe.searching.adoption import pack
    kwargs = {"recipe": recipe} if not isinstance(recipe, dict) else {"overrides": recipe}
    run = autorecipe.fit((data.train_x, data.train_y), val=(data.val_x, data.val_y), epochs=args.epochs, seed=seed,
                         out=out, device=args.device, progress=False, **kwargs)
    val_correct, test_correct = _correct(run, data.val_x, data.val_y), _correct(run, data.test_x, data.test_y)
    return {"accuracy": float(test_correct.mean()), "val_accuracy": float(val_correct.mean()),
            "test_correct": pack(test_correct), "val_correct": pack(val_correct)}


def _correct(run, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per image, whether `run` classifies it right."""
    predicted = [top[0][0] for top in run.predict(x)]
    return np.array([run.classes.index(p) for p in predicted]) == y


# ---- the library, leave-one-task-out -------------------------------------------------------------------

def _library_without(task: str, done: dict, folder: Path) -> Path:
    """A library folder holding the chosen recipes of the other tasks' finished searches."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row["library_entry"]) for (other, _, arm), row in sorted(done.items())
             if arm == "search" and _images_of(other) != _images_of(task) and "library_entry" in row]
    (folder / "library.jsonl").write_text("".join(line + "\n" for line in lines))
    return folder


def _images_of(task: str) -> str:
    """The name of the images a task is built from (tasks on the same images leave each other out)."""
    return "digits" if task.startswith("digits") else task


def _write_library(done: dict, path: Path) -> None:
    """Write the recipes the finished searches adopted (beat the default by more than noise) as the shipped
    library file: a header line, then one entry a search."""
    from datetime import date
    import autorecipe
    from autorecipe.searching.library import SHIPPED_FORMAT
    rows = [{**row["library_entry"], "description": f"search suite: {task} (seed {seed})"}
            for (task, seed, arm), row in sorted(done.items())
            if arm == "search" and row.get("adopted") and "library_entry" in row]
    header = {"library_format": SHIPPED_FORMAT, "built_by": "benchmarks/search_suite.py", "autorecipe": autorecipe.__version__,
              "date": date.today().isoformat(), "entries": len(rows),
              "searches": sum(1 for (_, _, arm) in done if arm == "search")}
    path.write_text("".join(json.dumps(r) + "\n" for r in [header, *rows]))
    print(f"{len(rows)} adopted recipes of {header['searches']} searches written to {path}")


# ---- the report ----------------------------------------------------------------------------------------

def report(done: dict, tasks: list[str], seeds: int, work: Path) -> None:
    """The tables: per task, the search under the adoption rule against the default; A/A; the rule's levels."""
    from rich.console import Console
    from rich.table import Table
    from autorecipe.statistics import LEVEL, bootstrap_means, difference_of

    machines = Counter(row.get("machine", "not recorded") for row in done.values())
    print("arms by machine: " + ", ".join(f"{name}: {n}" for name, n in machines.items()))
    table = Table(title=f"search suite: search ({seeds} seeds) against the default recipe at the same compute")
    for column in ("task", "default %", "search %", "random %", "gain (points)", "95% interval", "W/T/L",
                   "adopted", "candidate on val", "candidate on test", "trials (pruned)"):
        table.add_column(column, justify="left" if column == "task" else "right")
    headline_means = []
    for task in tasks:
        cells = [(s, _outcome(done, task, s, work, LEVEL)) for s in range(seeds)]
        cells = [(s, o) for s, o in cells if o is not None]
        if not cells:
            continue
        first = np.stack([o[1] for _, o in cells]).astype(float)
        second = np.stack([o[2] for _, o in cells]).astype(float)
        means = bootstrap_means(first, second)
        gain = difference_of(float((first - second).mean()), means, "paired bootstrap over seeds and test images")
        if task in HEADLINE:
            headline_means.append((gain.mean, means))
        wins = sum(1 for a, b in zip(first, second) if a.mean() > b.mean())
        ties = sum(1 for a, b in zip(first, second) if (a == b).all())
        randoms = [done[(task, s, "random")]["accuracy"] for s in range(seeds) if (task, s, "random") in done]
        searches = [done[(task, s, "search")] for s, _ in cells]
        table.add_row(task + ("" if task in HEADLINE else " (apart)"),
                      f"{100 * second.mean():.2f}", f"{100 * first.mean():.2f}",
                      f"{100 * np.mean(randoms):.2f}" if randoms else "-",
                      f"{100 * gain.mean:+.2f}", f"[{100 * gain.low:+.2f}, {100 * gain.high:+.2f}]",
                      f"{wins}/{ties}/{len(cells) - wins - ties}", f"{sum(o[0] for _, o in cells)}/{len(cells)}",
                      ", ".join(_candidate(_val_pairs(done[(task, s, 'search')], work / f"{task}-{s}-search"))
                                for s, _ in cells),
                      ", ".join(_candidate_test(done, task, s) for s, _ in cells),
                      ", ".join(f"{sum(r['trials'].values())} ({r['trials']['pruned']})" for r in searches))
    console = Console(width=190)
    console.print(table)
    levels_table(done, tasks, work, console)
    if headline_means:
        overall = difference_of(float(np.mean([m for m, _ in headline_means])),
                                np.mean([b for _, b in headline_means], axis=0),
                                "paired bootstrap over seeds and test images")
        print(f"search - default, overall ({len(headline_means)} of {len(HEADLINE)} headline tasks): "
              f"{overall.points()} (95% paired bootstrap over seeds and test images)")


def _outcome(done: dict, task: str, seed: int, work: Path, level: float, reruns_only: bool = True):
    """(adopted, search's test correctness, default's) of a cell under the adoption rule at `level` (reruns
    only, as the search judges; or the first scores too), from the validation pairs and the candidate arm's
    test predictions; None until the cell's default, search and candidate arms have run."""
    from autorecipe.searching.adoption import unpack
    from autorecipe.statistics import paired_bootstrap
    rows = [done.get((task, seed, arm)) for arm in ("search", "default", "candidate")]
    if None in rows:
        return None
    search, default, candidate = rows
    pairs = _val_pairs(search, work / f"{task}-{seed}-search")
    default_correct = unpack(default["test_correct"])
    if pairs is None or candidate.get("candidate") is None:
        return False, default_correct, default_correct
    gain = pairs.gain(level) if reruns_only else paired_bootstrap(*pairs.pooled(), level=level)
    return (gain.above_zero, unpack(candidate["test_correct"]) if gain.above_zero else default_correct,
            default_correct)


LEVELS = (0.95, 0.9, 0.8)  # adoption levels compared after the fact


def levels_table(done: dict, tasks: list[str], work: Path, console) -> None:
    """The adoption rule judged after the fact at other levels, on the reruns alone (as the search judges) and
    with the winner's first score too: how often it adopts, what that gains on test (the candidate arm's
    fit), and how often it adopts the default recipe against itself on new seeds (A/A)."""
    from rich.table import Table
    from autorecipe.searching.adoption import Paired
    from autorecipe.statistics import paired_bootstrap
    table = Table(title="the adoption rule at other levels (headline tasks; test gain of what each rule adopts)")
    for column in ("rule", "level", "adopted", "mean test gain (points)", "wins/losses on test", "A/A adopted"):
        table.add_column(column, justify="right")
    for reruns_only in (True, False):
        for level in LEVELS:
            gains, adopted, wins, losses, cells = {}, 0, 0, 0, 0
            for task in HEADLINE:
                for seed in sorted({s for (t, s, _) in done if t == task}):
                    outcome = _outcome(done, task, seed, work, level, reruns_only)
                    if outcome is None:
                        continue
                    diff = float(outcome[1].mean() - outcome[2].mean())
                    cells, adopted = cells + 1, adopted + outcome[0]
                    wins, losses = wins + (diff > 0), losses + (diff < 0)
                    gains.setdefault(task, []).append(diff)
            aa = [Paired.unpacked(r["val_pairs"]) for (task, _, arm), r in done.items()
                  if arm == "aa" and "val_pairs" in r and task in tasks]
            aa = [(p.gain(level) if reruns_only else paired_bootstrap(*p.pooled(), level=level)).above_zero
                  for p in aa]
            mean = np.mean([np.mean(g) for g in gains.values()]) if gains else float("nan")
            table.add_row("reruns" if reruns_only else "first scores too", f"{level:.0%}", f"{adopted}/{cells}",
                          f"{100 * mean:+.2f}", f"{wins}/{losses}", f"{sum(aa)}/{len(aa)}" if aa else "-")
    console.print(table)


def _val_pairs(row: dict, study_folder: Path):
    """The candidate's and the base's per-image validation correctness (adoption.Paired) of a search cell, from
    its row or its study."""
    from autorecipe.searching.adoption import Paired, paired_correctness
    if row.get("val_pairs"):
        return Paired.unpacked(row["val_pairs"])
    if "val_pairs" in row or not (study_folder / "search.json").exists():
        return None
    from autorecipe.searching.search import load_study
    return paired_correctness(load_study(study_folder))


def _candidate(pairs) -> str:
    """The search's best other recipe against the default on validation, as the rule judges it (the reruns):
    gain and 95% half-width in points."""
    if pairs is None:
        return "none"
    gain = pairs.gain()
    return f"{100 * gain.mean:+.1f}±{50 * (gain.high - gain.low):.1f}"


def _candidate_test(done: dict, task: str, seed: int) -> str:
    """The candidate's test accuracy minus the default's, in points ('-' before the candidate arm ran)."""
    row, default = done.get((task, seed, "candidate")), done.get((task, seed, "default"))
    if row is None or default is None:
        return "-"
    return "none" if row.get("candidate") is None else f"{100 * (row['accuracy'] - default['accuracy']):+.1f}"


def _backfill(done: dict, work: Path, path: Path) -> None:
    """Give search rows written before they kept their validation pairs the pairs from their studies (while
    --work still holds them), and rewrite the results file."""
    changed = False
    for (task, seed, arm), row in done.items():
        if arm == "search" and "val_pairs" not in row and (work / f"{task}-{seed}-search" / "search.json").exists():
            pairs = _val_pairs(row, work / f"{task}-{seed}-search")
            row["val_pairs"] = None if pairs is None else pairs.packed()
            changed = True
    if changed:
        path.write_text("".join(json.dumps(row) + "\n" for row in done.values()))


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["task"], r["seed"], r["arm"]): r for r in rows
            if r["arm"] != "random" or r.get("design") == RANDOM_DESIGN}


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
