"""`search`: find a better recipe with one Optuna study over the four buckets, then retrain it.

The base recipe is the first trial; when the budget for searching is spent, the best other
recipe replaces it only if the never-worse rule (adoption.py) finds it better by more than the
noise of the validation score, and the summary says by how much, with its interval.

The study lives in `out` (an Optuna journal file by default), so `resume=True` continues a
search stopped by Ctrl-C or a kill: completed trials are kept, trials cut off mid-training
are run again, and trial and epoch budgets count what was already spent. `resume=True` while
another process still searches in `out` adds a second worker to the same study.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState
from rich.console import Console

from ..version import __version__
from ..budget import Budget, parse_budget
from ..data.dataset import ImageData
from ..data.split import Splits, check_fraction, load_splits
from ..device import choose_device
from ..errors import AutorecipeError
from ..files import write_atomic
from ..fitting import fit, unlabeled_pool, warn_if_coarse
from ..output_folder import OutputFolder, check_kind, default_folder
from ..recipe import Recipe
from ..run import Run
from ..semi.methods import resolve_method, semi_knobs
from ..training.scoring import resolve_metric
from ..training.setup import check_seed, resolve_flip
from .adoption import RerunCost, Verdict, judge
from .attributes import LIBRARY_USED, REFERENCE
from .budgets import BudgetClock
from .display import LiveTrials
from .library import library_dir, nearest, record
from .loop import run_trials
from .objective import Trainer, pooled
from .pruning import make_pruner
from .resume import claim_once, claimant, drop_unrun, fresh_seed, requeue_cut_off
from .results import best_trial, counts, importance, not_scored, trials_csv
from .samplers import make_sampler
from .settings import SearchSettings
from .space import RESOURCE_KNOB, SearchSpace, build_space, fixed_values, read_space_file
from .costs import compile_left_out, slow_precisions
from .storage import JOURNAL, open_storage
from .warm_start import plan, strong_recipes, what_trains

log = logging.getLogger("autorecipe")

RESOLVED = ("image_size", "channels", "hflip", "semi_supervised")  # resolved by the data; in the study's REFERENCE
RETRAIN_CLAIM = "final.claim"  # which worker of a shared search retrains the chosen recipe (host:pid)


@dataclass
class SearchResult:
    """What a search found: the best recipe and its score, the study, and the retrained run."""

    recipe: Recipe
    score: float
    best_trial: int
    counts: dict[str, int]
    path: Path
    study: optuna.Study
    status: str = "completed"  # completed | interrupted
    verdict: Verdict | None = None  # the never-worse rule's decision (None when interrupted)
    run: Run | None = None
    knob_importance: dict[str, float] = field(default_factory=dict)
    bucket_importance: dict[str, float] = field(default_factory=dict)
    importance_note: str | None = None  # why importance is empty, when it is


def search(
    data,
    *,
    val=None,
    test=None,
    budget: str | Budget | None = None,
    recipe: Recipe | str | Path | Mapping | None = None,
    overrides: Iterable[str] | Mapping | None = None,
    epochs: int | None = None,
    space: str | Path | Mapping | None = None,
    buckets: Iterable[str] | None = None,
    sampler: str = "tpe",
    pruner: str = "race",
    min_epochs: int | None = None,
    cv: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    resume: bool = False,
    library: str | Path | bool | None = None,
    shipped_library: bool = True,
    warm_start: bool | str = True,
    retrain: bool = True,
    retrain_on_all: bool = False,
    out: str | Path | None = None,
    seed: int = 0,
    device: str | None = None,
    val_fraction: float = 0.1,
    progress: bool | LiveTrials = True,
    unlabeled=None,
    ignore_unlabeled_labels: bool = False,
    metric: str = "auto",
) -> SearchResult:
    """Search recipes for `data` within `budget` (e.g. "2h", "40 trials", "300 epochs"); see the README.

    Writes to `out`: the study, best_recipe.yaml, trials.csv, importance.json, summary.json,
    search.log and (with `retrain`) the best recipe retrained at full budget in `out/final`,
    scored on `test` (any data source) when given.
    `library=False` neither reads nor writes the recipe library (nor reads the shipped one);
    `shipped_library=False` leaves out only the library the package ships. `warm_start="base"` starts from
    the base recipe alone (no library or known strong recipes; the never-worse rule holds), and
    `warm_start=False` from no recipe (no base trial: the rule is off). `retrain_on_all` retrains on the
    training and validation images together (the validation split from `data`: no `val`).
    `progress` shows a live table of the trials in a terminal or a Jupyter notebook (False:
    silent; or a LiveTrials of your own). `unlabeled` (any source fit takes) puts the semi-supervised
    method (none, fixmatch or freematch) and its knobs in the space; a resumed search reads a path
    given before from its settings. `metric` is what a trial scores (as for fit: auto is balanced accuracy on
    imbalanced classes, else accuracy); the paired verdict against the base recipe compares per-image correctness.
    """
    out = Path(out) if out is not None else default_folder("search")
    check_kind(out, "search")
    settings = SearchSettings.for_search(out, resume, SearchSettings(
        recipe=Recipe.coerce(recipe, overrides, epochs).to_dict(), fixed=_fixed_names(overrides),
        space=read_space_file(space) if space is not None else None,
        buckets=list(buckets) if buckets is not None else None, sampler=sampler, pruner=pruner,
        min_epochs=min_epochs, cv=cv, storage=storage, study_name=study_name or out.resolve().name, seed=seed,
        budget=None, val_fraction=val_fraction, library=str(library) if isinstance(library, Path) else library,
        shipped_library=shipped_library, warm_start=warm_start, retrain=retrain, retrain_on_all=retrain_on_all,
        unlabeled=_described(unlabeled), ignore_unlabeled_labels=ignore_unlabeled_labels, metric=metric))
    check_seed(settings.seed)
    unlabeled = _unlabeled_source(unlabeled, settings)
    library, warm_start = settings.library, settings.warm_start
    retrain, retrain_on_all = settings.retrain, settings.retrain_on_all
    if budget is not None or not resume:
        settings.budget = str(parse_budget(budget if budget is not None else "20 trials"))
    budget = parse_budget(settings.budget)
    dev = choose_device(device)
    base, search_space = _base_and_space(settings)
    left_out = {} if resume else _leave_out_slow(settings, search_space, dev)
    if left_out:
        base, search_space = _base_and_space(settings)
    max_epochs, folds = base.optimization.epochs, settings.cv
    if folds is not None and not 2 <= folds <= 20:
        raise AutorecipeError(f"--cv {folds}: use from 2 to 20 folds")
    if val is None:
        check_fraction(settings.val_fraction)
    if retrain and retrain_on_all and val is not None:
        raise AutorecipeError("--retrain-on-all pools the validation split with the training images: hold it "
                              "out of DATA (drop --val), or join both into one CSV manifest and search that")
    budget.check(max_epochs * (folds or 1))
    sampler_ = make_sampler(settings.sampler, search_space, settings.seed)
    pruner_ = make_pruner(settings.pruner, max_epochs, settings.min_epochs, folds)
    live = LiveTrials(Console(stderr=True)) if progress is True else progress or None

    optuna_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own log says what a failed or cut-off trial was
    try:
        with OutputFolder(out, "search.log", append=True) as folder:
            log.info("autorecipe %s search %s on %s; budget %s; %d knobs", __version__,
                     "arrays" if isinstance(data, tuple) else data, dev, budget, len(search_space))
            splits = load_splits(data, val, None, base, settings.val_fraction, settings.seed, None, None)
            folder.open_log()
            for value, reason in left_out.items():
                _say(live, f"{value} left out of the search: {reason}")
            if not folds:
                warn_if_coarse(splits.val)
            sizes = None if resume else _sizes_near(settings, search_space, splits.recipe.data.image_size)
            if sizes:  # the narrowed space, and a sampler over it
                _say(live, sizes)
                base, search_space = _base_and_space(settings)
                sampler_ = make_sampler(settings.sampler, search_space, settings.seed)
            pool = unlabeled_pool(unlabeled, splits, settings.ignore_unlabeled_labels)
            settings.metric = resolve_metric(settings.metric, splits.train.class_counts())
            log.info("a trial scores its validation %s", settings.metric.replace("_", " "))
            base = resolve_flip(splits.recipe, splits.train)
            base = base.with_values({"semi_supervised": resolve_method(base.data, pool is not None)})
            study, study_storage = _open_study(settings, out, sampler_, pruner_, resume)
            study.set_user_attr(REFERENCE, Recipe().with_values({name: base.get(name) for name in RESOLVED}).to_dict())
            if resume:  # a new random stream: a resumed or second worker must not redraw the first one's
                study.sampler = make_sampler(settings.sampler, search_space, fresh_seed(settings.seed, study))
            settings.save(out)
            trial_images = len(splits.train) if not folds else (len(splits.train) + len(splits.val)) * (folds - 1) // folds
            same = what_trains(search_space, base, dev, trial_images)  # tells recipes that train one model
            if not resume and warm_start:
                shelf = library_dir(library or None)
                warm = (nearest(shelf, splits.train, shipped=settings.shipped_library, base=base, same=same)
                        if library is not False and warm_start != "base" else [])
                strong = strong_recipes(base, trial_images) if warm_start != "base" else []
                planned = plan(study, search_space, base, [r for _, r in warm] + strong, same)
                log.info("warm start: %d recipes planned (%d from the library)", planned, len(warm))
                study.set_user_attr(LIBRARY_USED, [e.label for e, _ in warm])
                if warm:
                    _say(live, f"after the base recipe, the best recipes of {len(warm)} similar past dataset(s) in the "
                               f"recipe library {shelf} and the shipped one: "
                               + "; ".join(f"{e.label} ({e.dataset.images:,} images, {100 * e.score:.1f}%)"
                                           for e, _ in warm)
                               + " (--no-library leaves them out and makes the search repeatable)")
            clock = BudgetClock(budget, study)
            cross_fit = val is None and not folds  # the search split its validation images: reruns use them all
            splits_at = _splits_by_size(data, val, splits, settings)
            trainer = Trainer(search_space, base, _data_source(splits_at, val, settings), dev, clock,
                              max_epochs, settings.seed, folds, on_epoch=live.refresh if live else None,
                              cross_fit=cross_fit, rerun_cost=(RerunCost.cross_fitted(len(splits.train), len(splits.val))
                                                               if cross_fit else RerunCost()),
                              unlabeled=_unlabeled_images(unlabeled, pool, splits, splits_at, settings),
                              metric=settings.metric)
            local_seed = fresh_seed(settings.seed, study) if resume else settings.seed
            status = run_trials(study, study_storage, trainer, clock, live,
                               local_seed if settings.sampler == "tpe" else None, same, retrain=retrain)
            if status == "completed" and (unrun := drop_unrun(study, study_storage, clock.out_of_time())):
                log.info("the budget ended before queued trial(s) %s started: marked not run (--resume with a "
                         "larger budget runs them)", ", ".join(map(str, unrun)))
            result = _summarize(study, search_space, base, splits, out, status, library, settings.seed, clock,
                                settings.storage)
            if result.verdict is not None:
                _say(live, result.verdict.sentence())
            if retrain and status == "completed" and not claim_once(out / RETRAIN_CLAIM):
                _say(live, f"another worker ({claimant(out / RETRAIN_CLAIM)}) retrains the chosen recipe into "
                           f"{out / 'final'}")
            elif retrain and status == "completed":
                clock.release()
                left = clock.seconds_left()  # with a time budget, the retrain trains within what is left
                result.run = fit(data, val=val, test=test, recipe=result.recipe, device=device, out=out / "final",
                                 budget=None if left is None else f"{max(1.0, left):.0f}s",
                                 seed=settings.seed, val_fraction=0 if retrain_on_all else settings.val_fraction,
                                 progress=live is not None, unlabeled=unlabeled,
                                 ignore_unlabeled_labels=settings.ignore_unlabeled_labels, metric=settings.metric,
                                 overwrite=True)  # the search's own folder: a retrain cut off is done again
            return result
    finally:
        optuna.logging.set_verbosity(optuna_verbosity)


def _base_and_space(settings: SearchSettings) -> tuple[Recipe, SearchSpace]:
    """The base recipe (with the knobs the space file fixes) and the search space a search's settings give."""
    base = Recipe.from_dict(settings.recipe).with_values(fixed_values(settings.space))
    if base.data.semi_supervised == "noisy_student":
        raise AutorecipeError("semi_supervised: noisy_student is fitted, not searched: a trial of it trains a model "
                              "a round, which a search's epochs cannot compare with other trials; search with "
                              "fixmatch, freematch or auto, or fit noisy student with fit --unlabeled")
    left_out = [] if settings.unlabeled else semi_knobs()  # without unlabeled images they change nothing
    return base, build_space(settings.buckets, settings.space, [*settings.fixed, *left_out])


def _leave_out_slow(settings: SearchSettings, space: SearchSpace, device) -> dict[str, str]:
    """Narrow a new search's space to what this device runs at full speed: precisions it emulates, and
    compiling where it does not pay (saved in the settings' space, so a resume keeps it); what was left
    out, with why."""
    left_out = {}
    searched = space.ranges.get("precision")
    if searched is not None:
        slow = slow_precisions(device, searched.options)
        if slow:
            settings.space = {**(settings.space or {}), "precision": [p for p in searched.options if p not in slow]}
        left_out.update({f"precision {p}": reason for p, reason in slow.items()})
    reason = compile_left_out(device) if "compile" in space.ranges else None
    if reason:
        settings.space = {**(settings.space or {}), "compile": [False]}
        left_out["compile"] = reason
    return left_out


def _sizes_near(settings: SearchSettings, space: SearchSpace, native: int) -> str | None:
    """Narrow a new search's image sizes to half to twice the data's own (at least 8 to 16, at most 224): a
    larger upsampling adds no detail, only cost (and, at 182 px for 32-px images, more memory than a machine
    has). A space file that names image_size keeps its range. Returns what was narrowed, or None."""
    if "image_size" not in space.ranges or "image_size" in _named(settings.space):
        return None
    low, high = max(8, native // 2), max(16, min(224, 2 * native))
    settings.space = {**(settings.space or {}), "image_size": [low, high]}
    return f"image sizes searched from {low} to {high} px: half to twice the images' own {native} px"


def _named(space: dict | None) -> set[str]:
    """The knob names a (flattened, read_space_file) space file sets."""
    return {key.rpartition(".")[2] for key in space or {}}


def _say(live: LiveTrials | None, text: str) -> None:
    """Log `text`, and show it above the live table."""
    log.info("%s", text)
    if live is not None:
        live.note(text)


def _summarize(study, space, base: Recipe, splits, out: Path, status: str, library, seed: int,
               clock: BudgetClock, storage: str | None) -> SearchResult:
    """Write best_recipe.yaml, trials.csv, importance.json and summary.json; record the chosen recipe in the
    library (once a study: its other workers find it there). A completed search returns the recipe the never-worse
    rule chose; an interrupted one, the best so far."""
    verdict = judge(study) if status == "completed" else None
    best = study.trials[verdict.chosen] if verdict is not None else best_trial(study)
    write_atomic(out / "trials.csv", trials_csv(study, space).encode())
    if best is None and status == "interrupted":
        raise KeyboardInterrupt(f"the search was interrupted before a trial was scored; resume it with --resume "
                                f"(--out {out})")
    if best is None:
        raise AutorecipeError("no trial finished an epoch within the budget; give a larger budget "
                              "or a smaller model (e.g. --set width=0.25)")
    recipe = space.recipe_of(best, base).with_values({RESOURCE_KNOB: base.optimization.epochs})
    score = best.value if best.value is not None else max(best.intermediate_values.values())
    recipe.save(out / "best_recipe.yaml")
    knobs, buckets = importance(study, seed=seed)
    note = not_scored(study) or (None if knobs else "no searched knob was set by every complete trial")
    scores = {"buckets": buckets, "knobs": knobs, **({"note": note} if note else {})}
    write_atomic(out / "importance.json", json.dumps(scores, indent=1).encode())
    found = counts(study)
    summary = {"status": status, "best_trial": best.number, "best_score": score, "trials": found,
               "epochs_used": round(clock.epochs_used(), 2), "best_recipe": recipe.to_dict(),
               "library_used": study.user_attrs.get(LIBRARY_USED, []),
               **({"adoption": verdict.to_dict()} if verdict is not None else {})}
    write_atomic(out / "summary.json", json.dumps(summary, indent=1).encode())
    log.info("best trial %d: %.4f; trials %s", best.number, score, found)
    if library is not False and status == "completed" and best.state == TrialState.COMPLETE:
        where = storage or str((out / JOURNAL).resolve())  # the study, whichever worker finishes it
        record(library_dir(library or None), splits.train, recipe, score, base=base,
               study=f"{where}#{study.study_name}")
    return SearchResult(recipe, score, best.number, found, out, study, status, verdict,
                        knob_importance=knobs, bucket_importance=buckets, importance_note=note)


def load_study(folder: str | Path) -> optuna.Study:
    """The study of a search folder (read-only use: show-study)."""
    settings = SearchSettings.load(Path(folder))
    try:
        return optuna.load_study(study_name=settings.study_name, storage=open_storage(settings.storage, Path(folder)))
    except KeyError:
        raise AutorecipeError(f"{folder}: study {settings.study_name!r} not found in its storage") from None


def trial_recipe(folder: str | Path, number: int) -> Recipe:
    """The recipe trial `number` of the search in `folder` trained, at a trial's full epochs."""
    settings = SearchSettings.load(Path(folder))
    study = load_study(folder)
    if not 0 <= number < len(study.trials):
        raise AutorecipeError(f"{folder}: no trial {number}; the study has {len(study.trials)}")
    base, space = _base_and_space(settings)
    resolved = Recipe.from_dict(study.user_attrs.get(REFERENCE, base.to_dict()))
    base = base.with_values({name: resolved.get(name) for name in RESOLVED})
    return space.recipe_of(study.trials[number], base).with_values({RESOURCE_KNOB: base.optimization.epochs})


def _open_study(settings: SearchSettings, out: Path, sampler, pruner,
                resume: bool) -> tuple[optuna.Study, BaseStorage]:
    """Create the study, or load it on resume (trials cut off by Ctrl-C or a kill are failed and queued
    again); returns it and its storage."""
    storage = open_storage(settings.storage, out)
    try:
        study = optuna.create_study(study_name=settings.study_name, storage=storage, sampler=sampler, pruner=pruner,
                                    direction="maximize", load_if_exists=resume)
    except optuna.exceptions.DuplicatedStudyError:
        raise AutorecipeError(f"study {settings.study_name!r} already exists in {settings.storage}; "
                              f"pass --resume to continue it or --study-name to start another") from None
    requeue_cut_off(study, storage)
    return study, storage


def _splits_by_size(data, val, splits: Splits, settings: SearchSettings) -> Callable[[Recipe], Splits]:
    """The splits at a recipe's image size: loaded once a size."""
    loaded = {splits.recipe.data.image_size: splits}

    def splits_at(recipe: Recipe) -> Splits:
        size = recipe.data.image_size
        if size not in loaded:
            loaded[size] = load_splits(data, val, None, recipe, settings.val_fraction, settings.seed, None, None)
        return loaded[size]
    return splits_at


def _data_source(splits_at: Callable[[Recipe], Splits], val, settings: SearchSettings):
    """The (train, val) data for a recipe at its image size; pooled for cross-validation."""
    def source(recipe: Recipe) -> tuple[ImageData, ImageData | None]:
        splits = splits_at(recipe)
        train, held_out = splits.train, splits.val
        if settings.cv and val is None:  # cross-validate over all labelled images
            return pooled(train, held_out), None
        return train, (None if settings.cv else held_out)
    return source


def _described(unlabeled) -> str | None:
    """The unlabeled source for the search's settings: its path, "arrays", or None without one."""
    if unlabeled is None:
        return None
    return str(Path(unlabeled).resolve()) if isinstance(unlabeled, (str, Path)) else "arrays"


def _unlabeled_source(unlabeled, settings: SearchSettings):
    """The unlabeled images a (resumed) search trains with: as given, or the path its settings saved; a search
    that had them needs them again, and one that had none takes none (its space has no method to choose)."""
    if unlabeled is None and settings.unlabeled not in (None, "arrays"):
        return settings.unlabeled
    if unlabeled is None and settings.unlabeled == "arrays":
        raise AutorecipeError("this search learnt from unlabeled arrays: pass them again (unlabeled=...) to resume it")
    if unlabeled is not None and settings.unlabeled is None:
        raise AutorecipeError("this search was started without unlabeled images: its space has no semi-supervised "
                              "method to choose; start a new search with --unlabeled")
    return unlabeled


def _unlabeled_images(source, pool, splits: Splits, splits_at: Callable[[Recipe], Splits],
                      settings: SearchSettings):
    """The unlabeled images at a recipe's image size (None without a source): decoded once a size, less the
    labelled and validation images."""
    if pool is None:
        return None
    loaded = {splits.train.image_size: pool.as_data(splits.train.classes)}

    def images(recipe: Recipe) -> ImageData:
        at_size = splits_at(recipe)
        size = at_size.train.image_size
        if size not in loaded:
            loaded[size] = unlabeled_pool(source, at_size, settings.ignore_unlabeled_labels).as_data(
                at_size.train.classes)
        return loaded[size]
    return images


def _fixed_names(overrides) -> list[str]:
    """The knobs that --set fixes (they leave the search space)."""
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        return [str(k) for k in overrides]
    return [text.partition("=")[0].strip() for text in overrides]
