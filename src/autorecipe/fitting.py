"""`fit`: load the data, train the recipe, evaluate, and save a run folder."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from .version import __version__
from .architecture.custom import OBJECT, importable_name
from .budget import Budget, parse_budget
from .calibration import MIN_IMAGES as MIN_CALIBRATION_IMAGES
from .calibration import calibrate
from .data.balance import warn_if_imbalanced
from .data.checks import warn_about_duplicates
from .data.dataset import ImageData, check_trainable
from .data.label_issues import apply_flagged, read_flagged
from .data.resolution import training_sizes
from .data.split import Splits, check_fraction, load_splits
from .data.unlabeled import UnlabeledData, load_unlabeled
from .device import choose_device, describe_device
from .durations import parse_duration
from .errors import AutorecipeError, AutorecipeWarning
from .files import write_atomic
from .output_folder import OutputFolder, check_free, default_folder, empty, holds_run
from .recipe import Recipe
from .resuming import CHECKPOINT, FitRecord, identity, plain
from .run import Run, logits_of
from .semi.methods import resolve_method
from .semi.train import train_with_unlabeled
from .statistics import accuracy_halfwidth, wilson_interval
from .training.batch_finder import find_batch_size
from .training.callbacks import Callback, Callbacks
from .training.checkpoint import Checkpoint
from .training.display import RichProgress
from .training.gradients import FILE as GRADIENTS
from .training.loop import TrainResult, train
from .training.lr_finder import find_lr
from .training.scoring import class_report, resolve_metric
from .training.setup import check_seed, resolve_balance_knob, resolve_flip, resolve_lr

log = logging.getLogger("autorecipe")

FEW_VALIDATION_IMAGES = 100  # below this, a validation accuracy is uncertain by more than ±10 points


def fit(
    data=None,
    *,
    val=None,
    test=None,
    recipe: Recipe | str | Path | Mapping | None = None,
    model=None,
    overrides: Iterable[str] | Mapping | None = None,
    epochs: int | None = None,
    budget: str | None = None,
    time_budget: float | str | None = None,
    device: str | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    auto_lr: bool = False,
    auto_batch: bool = False,
    progress: bool | Callback = True,
    callbacks: Iterable[Callback] = (),
    on_data: Callable[[str, ImageData], None] | None = None,
    unlabeled=None,
    ignore_unlabeled_labels: bool = False,
    unlabeled_labels=None,
    resume: str | Path | None = None,
    metric: str = "auto",
    flagged: str | Path | None = None,
    flagged_action: str = "drop",
    overwrite: bool = False,
) -> Run:
    """Train a classifier on `data` with the default (or given) recipe and save it to `out`.

    `data`, `val` and `test` are image folders, CSV manifests, .npz files, "digits", or
    (x, y) arrays. Without `val`, a seeded stratified `val_fraction` of `data` is held out;
    `val_fraction=0` trains on every image, without validation, and keeps the last epoch.
    `budget` ends training at a time or a number of epochs, in the grammar of every verb's
    budget: "10m", "30 epochs" or "10m, 30 epochs" (`time_budget`, seconds or "10m", is the old
    spelling of a time). `model` replaces the recipe's model: a
    name ("resnet18", "package.module:factory", "timm:<name>"), an nn.Module, or a factory
    called with the keyword arguments it accepts among num_classes, in_channels and image_size.
    `auto_batch` picks the batch size with the batch-size finder and `auto_lr` the learning rate
    with the range test (its curve is saved as lr_finder.csv); the chosen values go into the
    run's recipe.yaml. `progress` shows what trains, a progress bar and a line per epoch, in a
    terminal or a Jupyter notebook (False: silent; or a Callback of your own that displays);
    `callbacks` receive every step and epoch and may stop training (see training.callbacks).
    `unlabeled` (a folder of images at any depth, a CSV of paths, an .npz with `x`, or an array)
    adds images without labels, learnt from by the recipe's `semi_supervised` method (auto: the
    default method); those that are also labelled, validation or test images are left out. A
    source with labels is an error unless `ignore_unlabeled_labels`; `unlabeled_labels` (their
    true labels, for benchmarks) scores the pseudo-labels.
    `resume` (a run folder) continues a killed or interrupted fit from its last checkpoint, with the
    arguments it was started with (fit.json): those left out are taken from there, a changed one
    is an error, and arrays must be passed again. Training time already spent counts.
    `metric` is the validation score that chooses the kept epoch and early stopping: accuracy,
    balanced_accuracy or macro_f1 (auto: balanced accuracy when the training classes are imbalanced, see
    data.balance, else accuracy); metrics.json holds all three, with per-class precision and recall.
    An `out` that holds a run already is an error unless `overwrite`, which empties it once the data has
    loaded (no file of the old run stays beside the new one's). Returns the trained Run; its files are in
    `run.path`. A fit that fails with a user error leaves no new folder behind.
    """
    seconds = parse_duration(time_budget) if time_budget is not None else None
    limits = parse_budget(budget) if budget is not None else Budget(seconds=seconds)
    if limits.trials is not None:
        raise AutorecipeError(f"budget {budget!r}: a fit has no trials; give a time ('10m') or epochs ('30 epochs')")
    recipe, network = _model(Recipe.coerce(recipe, overrides, limits.epochs or epochs), model)
    arguments = {"data": identity(data), "val": identity(val), "test": identity(test), "recipe": recipe.to_dict(),
                 "time_budget": limits.seconds, "seed": seed, "val_fraction": val_fraction, "auto_lr": auto_lr,
                 "auto_batch": auto_batch, "unlabeled": identity(unlabeled),
                 "ignore_unlabeled_labels": ignore_unlabeled_labels, "unlabeled_labels": identity(unlabeled_labels),
                 "metric": metric, "flagged": identity(flagged), "flagged_action": flagged_action}
    record = None
    if resume is not None:  # the arguments the fit started with
        if out is not None and Path(out).resolve() != Path(resume).resolve():
            raise AutorecipeError(f"resume {str(resume)!r} and out {str(out)!r} differ: a fit resumes in its own folder")
        record = FitRecord.read(Path(resume))
        saved = record.merged(arguments, _default_arguments())
        data, val, test, unlabeled, unlabeled_labels = (
            given if given is not None else saved[name] for name, given in
            (("data", data), ("val", val), ("test", test), ("unlabeled", unlabeled),
             ("unlabeled_labels", unlabeled_labels)))
        recipe, seed, val_fraction = Recipe.from_dict(saved["recipe"]), saved["seed"], saved["val_fraction"]
        limits, ignore_unlabeled_labels = Budget(seconds=saved["time_budget"]), saved["ignore_unlabeled_labels"]
        metric = saved.get("metric", "auto")  # a run recorded before the argument existed: auto
        flagged = flagged if flagged is not None else saved.get("flagged")
        flagged_action = saved.get("flagged_action", "drop")
        if recipe.architecture.model == OBJECT and network is None:
            raise AutorecipeError(f"resume {str(resume)!r}: the run trained a model object, which a run folder does "
                                  f"not keep; pass the same model= again")
        out = Path(resume)
    if data is None:
        raise AutorecipeError("fit needs data (a folder, CSV, .npz, 'digits' or arrays), or resume=RUN_FOLDER")
    if val_fraction != 0:
        check_fraction(val_fraction)
    check_seed(seed)
    time_budget = limits.seconds
    dev = choose_device(device)
    out = Path(out) if out is not None else default_folder("fit")
    if record is None:
        check_free(out, overwrite)
    checkpoint = Checkpoint(out / CHECKPOINT)
    # A user error, or any failure before run.log is written, leaves no new folder behind.
    with OutputFolder(out, "run.log", append=record is not None, remove_on_user_error=record is None) as folder:
        log.info("autorecipe %s fit %s on %s, seed %d%s", __version__, _describe(data), dev, seed,
                 ", resumed" if resume is not None else "")
        events = Callbacks([RichProgress() if progress is True else progress or None, *callbacks])
        splits = load_splits(data, val, test, recipe, val_fraction, seed, on_data, events.on_decode)
        if record is None and overwrite and holds_run(out):
            empty(out)
        folder.open_log()
        if record is None:  # a new fit: never another run's checkpoints; the status marker says running
            checkpoint.remove()
            record = FitRecord(out, arguments)
            record.write()
        train_data, val_data = splits.train, splits.val
        flagged_count = 0
        if flagged is not None:
            train_data, flagged_count = _act_on_flagged(train_data, flagged, flagged_action)
            splits.train = train_data
        warn_if_coarse(val_data)
        warn_about_duplicates(train_data, val_data, splits.test)
        recipe = resolve_balance_knob(resolve_flip(resolve_lr(splits.recipe), train_data), train_data)
        counts = train_data.class_counts()
        warn_if_imbalanced(train_data.classes, counts, recipe.data.class_balance)
        metric = resolve_metric(metric, counts)
        log.info("class_balance: %s; the kept epoch is the best by validation %s", recipe.data.class_balance,
                 metric.replace("_", " "))
        pool = unlabeled_pool(unlabeled, splits, ignore_unlabeled_labels)
        method = resolve_method(recipe.data, pool is not None)
        if pool is not None:
            recipe = recipe.with_values({"semi_supervised": method})
        if record.recipe is not None:  # resumed: the recipe as it was trained (the finders ran before)
            recipe = Recipe.from_dict(record.recipe)
        else:
            recipe = _run_finders(recipe, train_data, dev, seed, network, out, auto_batch, auto_lr)
            record.recipe = plain(recipe.to_dict())
            record.write()
        log.info("recipe:\n%s", recipe.to_yaml())
        rounds = []
        folder.keep()  # from here a checkpoint may hold training worth keeping, whatever ends the fit
        if pool is not None and method != "none":
            images = pool.as_data(train_data.classes, unlabeled_labels)
            trained = train_with_unlabeled(recipe, train_data, val_data, images, device=dev, seed=seed,
                                           time_budget=time_budget, callbacks=[events], network=network,
                                           keep=_kept_epoch(val_data), checkpoint=checkpoint, metric=metric)
            result, recipe, rounds = trained.result, trained.recipe, trained.rounds
        else:
            result = train(recipe, train_data, val_data, device=dev, seed=seed, time_budget=time_budget,
                           callbacks=[events], network=network, checkpoint=checkpoint, metric=metric)
        recipe = recipe.with_values({"batch_size": result.batch_size})
        metrics = {**_metrics(result, splits, dev, seed), **_unlabeled_metrics(pool, result, rounds),
                   "image_size": train_data.image_size,
                   "train_image_sizes": training_sizes(recipe.data, train_data.image_size),
                   **({"flagged_images": flagged_count, "flagged_action": flagged_action} if flagged else {})}
        run = Run(result.model, recipe, train_data.classes, result.history, metrics, val_correct=result.val_correct)
        if result.best_epoch is not None:
            metrics["calibration"] = calibrate_run(run, val_data, dev)
        if splits.test is not None and result.best_epoch:
            test_metrics = run.evaluate(splits.test, device=str(dev))
            metrics.update(test_accuracy=test_metrics["accuracy"], test_loss=test_metrics["loss"],
                           test_balanced_accuracy=test_metrics["balanced_accuracy"],
                           test_macro_f1=test_metrics["macro_f1"], test_ece=test_metrics["ece"],
                           num_test=test_metrics["count"])
        if result.best_epoch is None:
            log.warning("training %s before the first epoch ended; no model saved", result.status)
        try:
            run.save(out, with_model=result.best_epoch is not None)
            if result.gradients is not None:
                write_atomic(out / GRADIENTS, json.dumps(result.gradients).encode())
        except OSError as error:
            raise AutorecipeError(_unsaved(out, error, checkpoint)) from None
        log.info("metrics %s", metrics)
        record.status = result.status
        record.write()
        if result.status == "interrupted":
            log.info("interrupted: `autorecipe fit --resume %s` continues from the last checkpoint", out)
        else:
            checkpoint.remove()
        return run


def _unsaved(out: Path, error: OSError, checkpoint: Checkpoint) -> str:
    """What to do when a trained run cannot be written (a full disk, a folder made read-only)."""
    where = f"{out}: cannot save the run ({error.strerror or error})"
    if checkpoint.path.is_file():
        return (f"{where}; free space, then `autorecipe fit --resume {out}` saves it from its checkpoint without "
                f"training again (or, if the last checkpoint is older, from where it was written)")
    return f"{where}, and no checkpoint could be written either: the trained model is lost; free space and fit again"


def calibrate_run(run: Run, val_data: ImageData | None, device: torch.device) -> dict:
    """Fit the temperature that calibrates `run`'s probabilities on its validation images (set on the run);
    the record for metrics.json, or why calibration was skipped."""
    if val_data is None or len(val_data) < MIN_CALIBRATION_IMAGES:
        reason = ("no validation images" if val_data is None else
                  f"validation holds {len(val_data)} images, fewer than the {MIN_CALIBRATION_IMAGES} a temperature "
                  f"needs")
        log.warning("calibration skipped: %s; predicted probabilities are the model's own, uncalibrated", reason)
        return {"skipped": reason}
    logits, labels = logits_of(run, val_data, str(device))
    record = calibrate(logits, labels)
    run.temperature = record["temperature"]
    log.info("calibration: temperature %.3f; expected calibration error %.2f%% before, %.2f%% after, on %d "
             "validation images", run.temperature, 100 * record["ece_before"], 100 * record["ece_after"],
             record["images"])
    return record


def _run_finders(recipe: Recipe, train_data: ImageData, dev: torch.device, seed: int, network, out: Path,
                 auto_batch: bool, auto_lr: bool) -> Recipe:
    """The recipe with the batch size and the lr the finders chose, when asked (the lr curve saved)."""
    if auto_batch:
        recipe = find_batch_size(recipe, train_data, dev, seed, network)
    (out / "lr_finder.csv").unlink(missing_ok=True)  # never a stale curve from an earlier run
    if auto_lr:
        recipe, curve = find_lr(recipe, train_data, dev, seed, network=network)
        curve.save(out / "lr_finder.csv")
    return recipe


def _default_arguments() -> dict:
    """fit's arguments, as recorded, when none is given."""
    return {"data": None, "val": None, "test": None, "recipe": Recipe.coerce(None).to_dict(), "time_budget": None,
            "seed": 0, "val_fraction": 0.1, "auto_lr": False, "auto_batch": False, "unlabeled": None,
            "ignore_unlabeled_labels": False, "unlabeled_labels": None, "metric": "auto", "flagged": None,
            "flagged_action": "drop"}


def _act_on_flagged(train_data: ImageData, flagged, action: str) -> tuple[ImageData, int]:
    """The training images with those flagged as probably mislabelled dropped or down-weighted."""
    listed = read_flagged(flagged)
    train_data, count = apply_flagged(train_data, listed, action)
    if listed and not count:
        text = (f"flagged: none of the {len(listed)} images listed in {flagged} is a training image (their "
                f"names, e.g. {next(iter(listed))!r}, are not the training data's); nothing dropped")
        log.warning("%s", text)
        warnings.warn(text, AutorecipeWarning, stacklevel=3)
    else:
        log.info("flagged: %d training images %s (listed as probably mislabelled in %s)", count,
                 "dropped" if action == "drop" else "down-weighted", flagged)
    check_trainable(train_data)
    return train_data, count


def unlabeled_pool(source, splits: Splits, ignore_labels: bool) -> UnlabeledData | None:
    """The unlabeled images at the training images' size and colour, less the labelled, validation and test
    images among them; None without a source."""
    if source is None:
        return None
    known = [part for part in (splits.train, splits.val, splits.test) if part is not None]
    pool = load_unlabeled(source, splits.train.image_size, splits.train.channels == 1, exclude=known,
                          ignore_labels=ignore_labels)
    log.info("unlabeled: %d images from %s (%d also labelled, validation or test images left out, %d unreadable "
             "file(s) skipped)", len(pool), pool.description, pool.excluded, len(pool.skipped))
    for path, reason in pool.skipped[:10]:
        log.warning("skipped unlabeled file %s: %s", path, reason)
    if not len(pool):
        raise AutorecipeError(f"{pool.description}: all {pool.excluded} of its images are also labelled, "
                              f"validation or test images; give images that are not")
    if splits.recipe.data.semi_supervised == "none":
        log.warning("semi_supervised: none: the %d unlabeled images are not used", len(pool))
    return pool


def _kept_epoch(val_data: ImageData | None) -> str:
    """Which epoch a semi-supervised fit keeps: the best on validation, or the last when the validation images
    are too few to choose by (the best of many epochs on a few dozen images is mostly their noise)."""
    if val_data is None or len(val_data) >= FEW_VALIDATION_IMAGES:
        return "best"
    log.info("validation holds %d images: keeping the last epoch, not the best on them", len(val_data))
    return "last"


def _unlabeled_metrics(pool: UnlabeledData | None, result: TrainResult, rounds: list[dict]) -> dict:
    """The unlabeled images used, left out and skipped, and (averaged over epochs, or noisy student's rounds,
    which are listed too) the share of their pseudo-labels kept and, with true labels, right."""
    if pool is None:
        return {}
    metrics = {"num_unlabeled": len(pool), "unlabeled_excluded": pool.excluded,
               "unlabeled_skipped": len(pool.skipped), **({"rounds": rounds} if rounds else {})}
    for name in ("mask_rate", "pseudo_label_accuracy"):
        values = [h[name] for h in rounds or result.history if name in h]
        if values:
            metrics[name] = sum(values) / len(values)
    return metrics


def warn_if_coarse(val_data: ImageData | None) -> None:
    """Warn (in the log, and as an AutorecipeWarning to the caller of fit or search) when the validation
    split is too small to tell recipes apart, with the width of its accuracies' 95% interval."""
    if val_data is None or len(val_data) >= FEW_VALIDATION_IMAGES:
        return
    text = (f"validation holds {len(val_data)} images: an accuracy measured on them is uncertain by "
            f"±{100 * accuracy_halfwidth(len(val_data)):.0f} points (95% interval, at 50%), too coarse to tell "
            f"recipes apart; give --val more images or a larger --val-fraction")
    log.warning("%s", text)
    warnings.warn(text, AutorecipeWarning, stacklevel=3)


def _metrics(result: TrainResult, splits: Splits, device: torch.device, seed: int) -> dict:
    """The run's summary for metrics.json: status, best-epoch scores, timings, sizes, versions."""
    best = result.history[result.best_epoch - 1] if result.best_epoch else {}
    rates = [h["images_per_second"] for h in result.history]
    return {
        "status": result.status, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
        "val_accuracy": best.get("val_accuracy"), "val_accuracy_interval": _interval(best, splits),
        "val_balanced_accuracy": best.get("val_balanced_accuracy"), "val_macro_f1": best.get("val_macro_f1"),
        "metric": result.metric,
        "val_per_class": class_report(result.val_confusion, splits.train.classes)
        if result.val_confusion is not None else None,
        "val_loss": best.get("val_loss"),
        "train_accuracy": best.get("train_accuracy"), "train_loss": best.get("train_loss"),
        "train_seconds": result.seconds, "decode_seconds": splits.decode_seconds,
        "images_per_second": sum(rates) / len(rates) if rates else None,
        "device": str(device), "precision": result.precision, "batch_size": result.batch_size,
        "lr": result.lr, "peak_lr": result.peak_lr, "seed": seed, "num_classes": len(splits.train.classes),
        "num_train": len(splits.train), "num_val": len(splits.val) if splits.val else 0, "skipped_files": splits.skipped,
        "autorecipe_version": __version__, "torch_version": torch.__version__, "hardware": describe_device(device),
        **({"gradient_warnings": result.gradients["warnings"],
            "gradient_sampling_share": result.gradients["cost_share"]} if result.gradients else {}),
    }



def _interval(best: dict, splits: Splits) -> list[float] | None:
    """The 95% (Wilson) interval of the kept epoch's validation accuracy."""
    if "val_accuracy" not in best or not splits.val:
        return None
    return list(wilson_interval(best["val_accuracy"] * len(splits.val), len(splits.val)))


def _model(recipe: Recipe, model) -> tuple[Recipe, nn.Module | Callable | None]:
    """The recipe with `model` recorded, and the module or factory to train when it cannot be named."""
    if model is None:
        return recipe, None
    if isinstance(model, str):
        return recipe.with_values({"model": model}), None
    if not isinstance(model, nn.Module) and callable(model):
        name = importable_name(model)
        if name is not None:  # saved as its import path, so evaluate and predict can rebuild it
            return recipe.with_values({"model": name}), None
    elif not isinstance(model, nn.Module):
        raise AutorecipeError(f"model must be a name, an nn.Module or a factory, got {type(model).__name__}")
    return recipe.with_values({"model": OBJECT}), model


def _describe(data) -> str:
    return "arrays" if isinstance(data, tuple) else str(data)
