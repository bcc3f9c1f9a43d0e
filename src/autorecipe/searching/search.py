"""`search`: find a better recipe with one Optuna study over the four buckets, then retrain it.

The study lives in `out` (an Optuna journal file by default), so `resume=True` continues a
search stopped by Ctrl-C or a kill: completed trials are kept, trials cut off mid-training
are run again, and trial and epoch budgets count what was already spent. `resume=True` while
another process still searches in `out` adds a second worker to the same study.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from .. import __version__
from ..data.dataset import ImageData
from ..device import choose_device
from ..errors import AutorecipeError
from ..files import write_atomic
from ..data.split import check_fraction
from ..fitting import fit, load_splits, make_recipe
from ..output_folder import close_logs, default_folder, hold_log, log_to, make_folder
from ..recipe import Recipe
from ..run import Run
from .budgets import Budget, BudgetClock, parse_budget
from .library import library_dir, nearest_recipes, record
from .local import propose
from .objective import Trainer, TrialFailed, is_cut_off, queue_again
from .optuna_parts import make_pruner, make_sampler, open_storage
from .results import best_trial, counts, importance, trials_csv
from .space import RESOURCE_KNOB, build_space, fixed_values, read_space_file
from .warm_start import enqueue, strong_recipes

log = logging.getLogger("autorecipe")
SETTINGS = "search.json"


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
    run: Run | None = None
    knob_importance: dict[str, float] = field(default_factory=dict)
    bucket_importance: dict[str, float] = field(default_factory=dict)


def search(
    data,
    *,
    val=None,
    budget: str | Budget | None = None,
    recipe: Recipe | str | Path | Mapping | None = None,
    overrides: Iterable[str] | Mapping | None = None,
    epochs: int | None = None,
    space: str | Path | Mapping | None = None,
    buckets: Iterable[str] | None = None,
    sampler: str = "tpe",
    pruner: str = "hyperband",
    min_epochs: int | None = None,
    cv: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    resume: bool = False,
    library: str | Path | bool | None = None,
    warm_start: bool = True,
    retrain: bool = True,
    retrain_on_all: bool = False,
    out: str | Path | None = None,
    seed: int = 0,
    device: str | None = None,
    val_fraction: float = 0.1,
    live=None,
) -> SearchResult:
    """Search recipes for `data` within `budget` (e.g. "2h", "40 trials", "300 epochs"); see the README.

    Writes to `out`: the study, best_recipe.yaml, trials.csv, importance.json, summary.json,
    search.log and (with `retrain`) the best recipe retrained at full budget in `out/final`.
    `library=False` neither reads nor writes the recipe library. `retrain_on_all` retrains on the
    training and validation images together (the validation split from `data`: no `val`). `live`
    is a LiveTrials display.
    """
    out = Path(out) if out is not None else default_folder("search")
    settings = _settings(out, resume, dict(
        recipe=make_recipe(recipe, overrides, epochs).to_dict(), fixed=_fixed_names(overrides),
        space=_space_entries(space), buckets=list(buckets) if buckets is not None else None,
        sampler=sampler, pruner=pruner, min_epochs=min_epochs, cv=cv, storage=storage,
        study_name=study_name or out.resolve().name, seed=seed, budget=None, val_fraction=val_fraction))
    if budget is not None or not resume:
        settings["budget"] = str(parse_budget(budget if budget is not None else "20 trials"))
    budget = parse_budget(settings["budget"])
    base = Recipe.from_dict(settings["recipe"]).with_values(fixed_values(settings["space"]))
    search_space = build_space(settings["buckets"], settings["space"], settings["fixed"])
    max_epochs, folds = base.optimization.epochs, settings["cv"]
    if folds is not None and not 2 <= folds <= 20:
        raise AutorecipeError(f"--cv {folds}: use from 2 to 20 folds")
    if val is None:
        check_fraction(settings["val_fraction"])
    if retrain and retrain_on_all and val is not None:
        raise AutorecipeError("--retrain-on-all pools the validation split with the training images: hold it "
                              "out of DATA (drop --val), or join both into one CSV manifest and search that")
    budget.check(max_epochs * (folds or 1))
    sampler_ = make_sampler(settings["sampler"], search_space, settings["seed"])
    pruner_ = (optuna.pruners.WilcoxonPruner(p_threshold=0.1) if folds
               else make_pruner(settings["pruner"], max_epochs, settings["min_epochs"]))
    dev = choose_device(device)

    created, held, handler = make_folder(out), hold_log(), None
    optuna_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        log.info("autorecipe %s search %s on %s; budget %s; %d knobs", __version__,
                 "arrays" if isinstance(data, tuple) else data, dev, budget, len(search_space))
        splits = load_splits(data, val, None, base, settings["val_fraction"], settings["seed"], None, None)
        handler = log_to(out / "search.log", held, mode="a")
        base = splits.recipe
        study = _open_study(settings, out, sampler_, pruner_, resume)
        if resume:  # a new random stream: a resumed or second worker must not redraw the first one's
            study.sampler = make_sampler(settings["sampler"], search_space, _fresh_seed(settings["seed"], study))
        write_atomic(out / SETTINGS, json.dumps(settings, indent=1).encode())
        if not resume and warm_start:
            warm = nearest_recipes(library_dir(library or None), splits.train) if library is not False else []
            queued = enqueue(study, search_space, warm + [base] + strong_recipes(base))
            log.info("warm start: %d recipes queued (%d from the library)", queued, len(warm))
        clock = BudgetClock(budget, study)
        trainer = Trainer(search_space, base, _data_source(data, val, splits, settings, folds), dev, clock,
                          max_epochs, settings["seed"], folds, on_epoch=live.refresh if live else None)
        status = _optimize(study, trainer, clock, live, local=settings["sampler"] == "tpe")
        return _finish(study, search_space, base, splits, out, status, library, retrain,
                       dict(data=data, val=val, device=device, seed=settings["seed"],
                            val_fraction=0 if retrain_on_all else settings["val_fraction"]), clock)
    except BaseException:
        if created is not None and handler is None:  # the data did not load: leave no new folder behind
            shutil.rmtree(created, ignore_errors=True)
        raise
    finally:
        optuna.logging.set_verbosity(optuna_verbosity)
        close_logs(held, handler)


def _optimize(study: optuna.Study, trainer: Trainer, clock: BudgetClock, live, local: bool) -> str:
    """Run trials one at a time (with `local`, every other one a local step) until the budget is
    spent; returns completed or interrupted."""
    if live:
        live.start(study)
    try:
        while not clock.exhausted():
            if local and propose(study, trainer.space, trainer.base, trainer.seed):
                log.info("trial %d: a local step from the best recipe so far", len(study.trials) - 1)
            study.optimize(trainer, n_trials=1, catch=(TrialFailed,),
                           callbacks=[live.refresh] if live else None)
    except KeyboardInterrupt:
        log.warning("search interrupted; resume it with --resume")
        return "interrupted"
    finally:
        if live:
            live.stop()
    return "completed"


def _finish(study, space, base: Recipe, splits, out: Path, status: str, library, retrain: bool,
            fit_args: dict, clock: BudgetClock) -> SearchResult:
    """Write best_recipe.yaml, trials.csv, importance.json and summary.json; record and retrain the best."""
    best = best_trial(study)
    if best is None:
        raise AutorecipeError("no trial finished an epoch within the budget; give a larger budget "
                              "or a smaller model (e.g. --set width=0.25)")
    recipe = space.recipe_of(best, base).with_values({RESOURCE_KNOB: base.optimization.epochs})
    score = best.value if best.value is not None else max(best.intermediate_values.values())
    recipe.save(out / "best_recipe.yaml")
    write_atomic(out / "trials.csv", trials_csv(study, space).encode())
    knobs, buckets = importance(study, seed=fit_args["seed"])
    write_atomic(out / "importance.json", json.dumps({"buckets": buckets, "knobs": knobs}, indent=1).encode())
    found = counts(study)
    summary = {"status": status, "best_trial": best.number, "best_score": score, "trials": found,
               "epochs_used": clock.epochs_used(), "best_recipe": recipe.to_dict()}
    write_atomic(out / "summary.json", json.dumps(summary, indent=1).encode())
    log.info("best trial %d: %.4f; trials %s", best.number, score, found)
    if library is not False and status == "completed" and best.state == TrialState.COMPLETE:
        record(library_dir(library or None), splits.train, recipe, score)
    result = SearchResult(recipe, score, best.number, found, out, study, status,
                          knob_importance=knobs, bucket_importance=buckets)
    if retrain and status == "completed":
        result.run = fit(fit_args["data"], val=fit_args["val"], recipe=recipe, device=fit_args["device"],
                         out=out / "final", seed=fit_args["seed"], val_fraction=fit_args["val_fraction"])
    return result


def load_study(folder: str | Path) -> optuna.Study:
    """The study of a search folder (read-only use: show-study)."""
    path = Path(folder) / SETTINGS
    if not path.exists():
        raise AutorecipeError(f"{folder}: not a search folder (no {SETTINGS}); pass the --out of a search")
    settings = json.loads(path.read_text())
    try:
        return optuna.load_study(study_name=settings["study_name"],
                                 storage=open_storage(settings["storage"], Path(folder)))
    except KeyError:
        raise AutorecipeError(f"{folder}: study {settings['study_name']!r} not found in its storage") from None


def _open_study(settings: dict, out: Path, sampler, pruner, resume: bool) -> optuna.Study:
    """Create the study, or load it on resume: trials cut off by Ctrl-C or a kill are failed and queued again."""
    storage = open_storage(settings["storage"], out)
    try:
        study = optuna.create_study(study_name=settings["study_name"], storage=storage, sampler=sampler,
                                    pruner=pruner, direction="maximize", load_if_exists=resume)
    except optuna.exceptions.DuplicatedStudyError:
        raise AutorecipeError(f"study {settings['study_name']!r} already exists in {settings['storage']}; "
                              f"pass --resume to continue it or --study-name to start another") from None
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_cut_off(trial):  # another worker runs it
            continue
        storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        queue_again(study, trial)
        log.info("trial %d was cut off by a kill; queued again", trial.number)
    return study


def _fresh_seed(seed: int, study: optuna.Study) -> int:
    """A sampler seed drawn from the search's seed, the trials so far and this process."""
    return int(np.random.SeedSequence([seed, len(study.trials), os.getpid()]).generate_state(1)[0])


def _data_source(data, val, splits, settings: dict, folds: int | None):
    """The (train, val) data for a recipe: loaded once per image size; pooled for cross-validation."""
    loaded = {splits.recipe.data.image_size: (splits.train, splits.val)}

    def source(recipe: Recipe) -> tuple[ImageData, ImageData | None]:
        size = recipe.data.image_size
        if size not in loaded:
            other = load_splits(data, val, None, recipe, settings["val_fraction"], settings["seed"], None, None)
            loaded[size] = (other.train, other.val)
        train, held_out = loaded[size]
        if folds and val is None:  # cross-validate over all labelled images
            train = ImageData(train.x, np.concatenate([train.rows, held_out.rows]),
                              np.concatenate([train.y, held_out.y]), train.classes, train.description)
        return train, (None if folds else held_out)
    return source


def _settings(out: Path, resume: bool, given: dict) -> dict:
    """The search's settings: as given for a new search; as saved in `out` on resume."""
    path = out / SETTINGS
    if resume:
        if not path.exists():
            raise AutorecipeError(f"{out}: no search to resume (no {SETTINGS}); start one without --resume")
        return json.loads(path.read_text())
    if path.exists():
        raise AutorecipeError(f"{out} already holds a search; pass --resume to continue it or choose another --out")
    return given


def _fixed_names(overrides) -> list[str]:
    """The knobs that --set fixes (they leave the search space)."""
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        return [str(k) for k in overrides]
    return [text.partition("=")[0].strip() for text in overrides]


def _space_entries(space) -> dict | None:
    """A space file's entries, read once so that a resumed search uses the same space."""
    return read_space_file(space) if space is not None else None
