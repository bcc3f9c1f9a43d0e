"""The `autorecipe` command line: fit, evaluate, predict, export, search, ablate, compare, diagnose, report,
show-study, knobs, recipe."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.table import Table

from .data.images import DEFAULT_MAX_PIXELS, MAX_PIXELS
from .data.sources import DATA_ROOT
from .durations import parse_duration
from .errors import AutorecipeError, AutorecipeWarning
from .terminal import safe
from .version import __version__

out = Console()
err = Console(stderr=True)
SHOWN_PREDICTIONS = 50  # images `predict` shows in its table without --out
_python_show_warning = warnings.showwarning


def _duration(text: str) -> float:
    """argparse type for --time-budget."""
    try:
        return parse_duration(text)
    except AutorecipeError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for user errors, 130 when interrupted)."""
    parser = _parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # such a file is skipped, with why
    terminate = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        with _environment(_settings(args)):
            return args.command(args) or 0
    except AutorecipeError as error:
        err.print(f"[bold red]error:[/] {safe(str(error))}", highlight=False, soft_wrap=True)
        return 2
    except OSError as error:
        if not _on_path(error, getattr(args, "out", None)):
            raise
        err.print(f"[bold red]error:[/] --out {safe(args.out)}: {safe(str(error))}; "
                  f"choose a folder you can write to", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt as interrupt:
        err.print(f"interrupted{': ' + safe(str(interrupt)) if str(interrupt) else ''}", highlight=False,
                  soft_wrap=True)
        return 130
    finally:
        if terminate is not None:
            signal.signal(signal.SIGTERM, terminate)


@contextlib.contextmanager
def _environment(values: dict[str, str | None]):
    """Set the environment variables of `values` that are not None for the block, then put them back (main()
    called from Python leaves the environment as it was). Settings travel as environment variables so that
    decoding threads and worker processes see them too."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: value for name, value in values.items() if value is not None})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _interrupt(signum, frame) -> None:
    """SIGTERM (a scheduler, `kill`, a container stopping) ends a verb as Ctrl-C does: the fit checkpoints, the
    search marks its trial to run again, and each says how to go on."""
    raise KeyboardInterrupt("terminated (SIGTERM)")


def _main_thread() -> bool:
    """Whether this is the main thread (only it may set signal handlers)."""
    return threading.current_thread() is threading.main_thread()


def _trust_flag(verb: argparse.ArgumentParser) -> None:
    """--trust-model-code, for the verbs that load a run folder."""
    verb.add_argument("--trust-model-code", action="store_true",
                      help="the run was trained on your own model (package.module:factory): import that code to "
                           "rebuild it (only for folders you trust)")


def _settings(args) -> dict[str, str | None]:
    """The options before the verb, which hold for every verb, as the environment variables that carry them."""
    root = None
    if args.data_root is not None:
        if not Path(args.data_root).expanduser().is_dir():
            raise AutorecipeError(f"--data-root {args.data_root}: no such folder")
        root = str(Path(args.data_root).expanduser().resolve())
    if args.max_pixels is not None and args.max_pixels < 1:
        raise AutorecipeError(f"--max-pixels {args.max_pixels}: must be a positive number of pixels")
    return {DATA_ROOT: root, MAX_PIXELS: None if args.max_pixels is None else str(args.max_pixels)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autorecipe", description="Train image classifiers with a strong recipe.")
    parser.add_argument("--version", action="version", version=f"autorecipe {__version__}")
    parser.add_argument("--data-root", metavar="DIR",
                        help="every path a CSV manifest lists must lie under DIR (default: any path)")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help=f"decode no image larger than N pixels, width x height (default {DEFAULT_MAX_PIXELS:,}, "
                             f"as Pillow): larger files are skipped as unreadable")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    fit = commands.add_parser("fit", help="train a classifier on a folder, CSV, .npz or 'digits'")
    fit.add_argument("data", nargs="?",
                     help="image folder (one subfolder per class), .csv manifest, .npz, or 'digits' (with --resume: "
                          "the run's)")
    fit.add_argument("--resume", metavar="DIR",
                     help="continue the killed or interrupted fit in DIR from its last checkpoint, with the "
                          "arguments it started with (any given again must be the same)")
    fit.add_argument("--val", help="validation data (any source); default: a stratified split of DATA")
    fit.add_argument("--test", help="test data (any source), evaluated once with the best model")
    fit.add_argument("--unlabeled", metavar="SOURCE",
                     help="images without labels to learn from too (semi_supervised): a folder (any depth), a .csv "
                          "of paths or an .npz with x; labelled, validation and test images among them are left out")
    fit.add_argument("--unlabeled-ignore-labels", action="store_true",
                     help="use an --unlabeled source that has labels (a label column, a y array) without them")
    fit.add_argument("--recipe", help="recipe YAML file (missing knobs take their defaults)")
    fit.add_argument("--model", help="a zoo model (see `autorecipe knobs`), your own as package.module:factory, "
                                     "or timm:<name>")
    fit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KNOB=VALUE",
                     help="set a knob, e.g. --set label_smoothing=0.2 (repeatable)")
    fit.add_argument("--epochs", type=int, help="training epochs (the recipe's optimization.epochs)")
    fit.add_argument("--budget", help="stop training after a time or a number of epochs: e.g. 10m, '30 epochs', "
                                      "or both joined by a comma")
    fit.add_argument("--time-budget", type=_duration, help="the old spelling of --budget with a time, e.g. 10m")
    fit.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    fit.add_argument("--out", help="output folder (default: runs/fit-DATE-TIME); one that holds a run needs "
                                   "--overwrite")
    fit.add_argument("--overwrite", action="store_true",
                     help="replace the run in --out: the folder is emptied once the data has loaded")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument("--val-fraction", type=float, default=0.1,
                     help="held-out share without --val (default 0.1; 0: train on every image, keep the last epoch)")
    fit.add_argument("--auto-lr", action="store_true",
                     help="choose the learning rate with a range test first (curve saved as lr_finder.csv)")
    fit.add_argument("--auto-batch", action="store_true",
                     help="choose the batch size first: the largest that fits, or on the CPU the throughput knee")
    fit.add_argument("--metric", default="auto",
                     help="the validation score that chooses the kept epoch: auto (default: balanced_accuracy when the "
                          "training classes are imbalanced, else accuracy), accuracy, balanced_accuracy or macro_f1")
    fit.add_argument("--flagged", metavar="DIR|CSV",
                     help="training images whose label is probably wrong: diagnose's --out folder or its "
                          "label_issues.csv")
    fit.add_argument("--flagged-action", choices=("drop", "downweight"), default="drop",
                     help="leave the flagged images out (default), or draw each in proportion to its label quality")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    fit.set_defaults(command=_fit)

    evaluate = commands.add_parser("evaluate", help="score a trained run on labelled data")
    evaluate.add_argument("run", metavar="DIR", help="a run folder written by fit")
    evaluate.add_argument("data", help="labelled data: folder, .csv, .npz or 'digits'")
    evaluate.add_argument("--top-k", type=int, default=5,
                          help="also count an image right when its class is among the K likeliest (default 5)")
    evaluate.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    _trust_flag(evaluate)
    evaluate.set_defaults(command=_evaluate)

    predict = commands.add_parser("predict", help="classify images with a trained run: files, folders, CSVs, .npz")
    predict.add_argument("run", metavar="DIR", help="a run folder written by fit")
    predict.add_argument("images", nargs="+", metavar="SOURCE",
                         help="image files, folders (searched at any depth), CSVs of image paths (first column; a "
                              "`path` header is optional, other columns are ignored) or .npz files with x")
    predict.add_argument("--out", metavar="FILE.csv",
                         help="write every prediction to a CSV (image, class, probability, ..., error)")
    predict.add_argument("--top-k", type=int, default=1, help="how many classes to give per image (default 1)")
    predict.add_argument("--tta", help="test-time augmentation: none, flip or flip_translate (default: the recipe's)")
    predict.add_argument("--batch-size", type=int, default=256, help="images a batch on the device (default 256)")
    predict.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    _trust_flag(predict)
    predict.set_defaults(command=_predict)

    export = commands.add_parser("export", help="write a run's model as ONNX or TorchScript: uint8 images in, "
                                                "calibrated probabilities out, checked against PyTorch")
    export.add_argument("run", metavar="DIR", help="a run folder written by fit")
    export.add_argument("--format", default="onnx", help="onnx (default) or torchscript")
    export.add_argument("--batch", default="1", help="images a call takes: a number (default 1) or 'dynamic'")
    export.add_argument("--out", help="the file to write (default: DIR/model.onnx or DIR/model.torchscript.pt)")
    export.add_argument("--json", action="store_true", help="print the export's metadata as JSON")
    _trust_flag(export)
    export.set_defaults(command=_export)

    search = commands.add_parser("search", help="search for a better recipe, then retrain the best one")
    search.add_argument("data", help="image folder (one subfolder per class), .csv manifest, .npz, or 'digits'")
    search.add_argument("--val", help="validation data (any source); default: a stratified split of DATA")
    search.add_argument("--budget", help="when to stop: e.g. 2h, 30m, '40 trials', '300 epochs', or several "
                                         "joined by commas (default '20 trials'; on --resume, the saved budget)")
    search.add_argument("--trials", type=int, metavar="N", help="stop after N trials (with --budget: whichever "
                                                                "comes first)")
    search.add_argument("--time-budget", type=_duration, help="the old spelling of --budget with a time, e.g. 2h")
    search.add_argument("--model", help="the model to search with (it leaves the search space): a zoo model, "
                                        "or your own as package.module:factory")
    search.add_argument("--test", help="test data (any source), evaluated once with the retrained best recipe")
    search.add_argument("--unlabeled", metavar="SOURCE",
                        help="images without labels (as fit takes them): the search also chooses whether and how to "
                             "learn from them (semi_supervised none, fixmatch or freematch, and their knobs)")
    search.add_argument("--unlabeled-ignore-labels", action="store_true",
                        help="use an --unlabeled source that has labels (a label column, a y array) without them")
    search.add_argument("--recipe", help="base recipe YAML file (the first trial; missing knobs take their defaults)")
    search.add_argument("--set", dest="overrides", action="append", default=[], metavar="KNOB=VALUE",
                        help="fix a knob (it leaves the search space), e.g. --set model=resnet9 (repeatable)")
    search.add_argument("--epochs", type=int, help="epochs of one trial at full budget (the recipe's epochs)")
    search.add_argument("--space", metavar="FILE.yaml", help="narrow ranges or fix knobs, e.g. 'width: [0.25, 1.0]'")
    search.add_argument("--buckets", help="comma-separated buckets to search (default: all four)")
    search.add_argument("--sampler", default="tpe", help="tpe (multivariate, default), random, qmc, grid or gp")
    search.add_argument("--pruner", default="race", help="race (against the best trial so far; default), hyperband, "
                                                        "halving, median or none")
    search.add_argument("--min-epochs", type=int, help="first pruning rung in epochs (default: a quarter of --epochs)")
    search.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation (small datasets); "
                                                             "folds are pruned with the Wilcoxon test")
    search.add_argument("--storage", metavar="URL", help="any Optuna storage URL (default: a journal file in --out)")
    search.add_argument("--study-name", help="the study's name in the storage (default: the --out folder's name)")
    search.add_argument("--resume", action="store_true", help="continue the search saved in --out")
    search.add_argument("--heartbeat", type=int, metavar="SECONDS",
                        help="with a database --storage: how often a worker says it is alive (default 60)")
    search.add_argument("--grace", type=int, metavar="SECONDS",
                        help="with a database --storage: the silence after which a worker's trial is failed and run "
                             "again by another (default 300)")
    search.add_argument("--library", help="recipe library folder (default $AUTORECIPE_LIBRARY or "
                                          "~/.autorecipe/library)")
    search.add_argument("--no-library", action="store_true", help="neither read nor write the recipe library")
    search.add_argument("--no-retrain", action="store_true", help="skip retraining the best recipe")
    search.add_argument("--retrain-on-all", action="store_true",
                        help="retrain the best recipe on training and validation images together (no --val)")
    search.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    search.add_argument("--out", help="output folder (default: runs/search-DATE-TIME)")
    search.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    search.add_argument("--val-fraction", type=float, default=0.1, help="held-out share without --val (default 0.1)")
    search.add_argument("--metric", default="auto",
                        help="what a trial scores on validation: auto (default: balanced_accuracy when the training "
                             "classes are imbalanced, else accuracy), accuracy, balanced_accuracy or macro_f1")
    search.add_argument("--quiet", action="store_true", help="no live table")
    search.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    search.set_defaults(command=_search)

    ablate = commands.add_parser("ablate", help="what each bucket of a recipe contributed, over paired seeds, with "
                                                "intervals")
    ablate.add_argument("source", metavar="RUN_DIR|SEARCH_DIR|RECIPE",
                        help="a run folder (its recipe.yaml), a search folder (best_recipe.yaml) or a recipe file")
    ablate.add_argument("data", help="the data, as fit takes it")
    ablate.add_argument("--val", help="validation data (any source); default: a stratified split of DATA a seed")
    ablate.add_argument("--test", help="test data (any source), scored by every cell's fit")
    ablate.add_argument("--seeds", type=int, default=3, help="seeds an arm (the same for every arm; default 3)")
    ablate.add_argument("--budget", help="each fit's budget: e.g. '10 epochs', 2m (default: the recipe's epochs)")
    ablate.add_argument("--order", help="the cumulative path's order of buckets, e.g. "
                                        "data,optimization,regularization,architecture (default: optimization, "
                                        "regularization, data, architecture)")
    ablate.add_argument("--knobs", metavar="BUCKET", help="also leave out each knob of BUCKET, one at a time")
    ablate.add_argument("--interaction", metavar="A,B",
                        help="the pair of buckets whose interaction to measure (default: the two largest effects)")
    ablate.add_argument("--unlabeled", metavar="SOURCE", help="images without labels, as fit takes them")
    ablate.add_argument("--val-fraction", type=float, default=0.1, help="held-out share without --val (default 0.1)")
    ablate.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    ablate.add_argument("--out", help="output folder (default: runs/ablate-DATE-TIME)")
    ablate.add_argument("--resume", action="store_true", help="continue the ablation saved in --out")
    ablate.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    ablate.set_defaults(command=_ablate)

    compare = commands.add_parser("compare", help="a table of variants, one knob at a time, over paired seeds")
    compare.add_argument("source", metavar="RUN_DIR|SEARCH_DIR|RECIPE",
                         help="a run folder (its recipe.yaml), a search folder (best_recipe.yaml) or a recipe file")
    compare.add_argument("data", help="the data, as fit takes it")
    compare.add_argument("--vary", action="append", required=True, metavar="KNOB=A,B,...",
                         help="a knob and the values to try, e.g. --vary activation=relu,elu,gelu (repeatable)")
    compare.add_argument("--seeds", type=int, default=3, help="seeds a variant (the same for every one; default 3)")
    compare.add_argument("--budget", help="each fit's budget: e.g. '10 epochs', 2m (default: the recipe's epochs)")
    compare.add_argument("--val", help="validation data (any source); default: a stratified split of DATA a seed")
    compare.add_argument("--test", help="test data (any source), scored by every cell's fit")
    compare.add_argument("--unlabeled", metavar="SOURCE", help="images without labels, as fit takes them")
    compare.add_argument("--val-fraction", type=float, default=0.1, help="held-out share without --val (default 0.1)")
    compare.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    compare.add_argument("--out", help="output folder (default: runs/compare-DATE-TIME)")
    compare.add_argument("--resume", action="store_true", help="continue the comparison saved in --out")
    compare.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    compare.set_defaults(command=_compare)

    diagnose = commands.add_parser("diagnose", help="what the data needs next: duplicates, probably wrong labels, "
                                                    "balance, a learning curve, the fit verdict")
    diagnose.add_argument("data", help="the data, as fit takes it")
    diagnose.add_argument("--val", help="validation data (any source); default: a stratified split of DATA")
    diagnose.add_argument("--test", help="test data (any source), checked for duplicates of training images")
    diagnose.add_argument("--budget", help="the time or epochs all the fits share: e.g. 10m, '40 epochs' "
                                           "(default: the recipe's epochs a fit)")
    diagnose.add_argument("--checks-only", action="store_true",
                          help="train nothing: balance, sizes, colour modes, unreadable files, duplicates")
    diagnose.add_argument("--folds", type=int, default=4, help="folds of the out-of-fold predictions (default 4)")
    diagnose.add_argument("--near-distance", type=int, default=6,
                          help="bits of 64 within which perceptual hashes are near-duplicates (0..7, default 6)")
    diagnose.add_argument("--recipe", help="recipe YAML file of the fits (default: fit's default recipe)")
    diagnose.add_argument("--set", dest="overrides", action="append", default=[], metavar="KNOB=VALUE",
                          help="override a knob of the fits' recipe (repeatable)")
    diagnose.add_argument("--val-fraction", type=float, default=0.1, help="held-out share without --val (default 0.1)")
    diagnose.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    diagnose.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    diagnose.add_argument("--out", help="output folder (default: runs/diagnose-DATE-TIME)")
    diagnose.add_argument("--json", action="store_true", help="print diagnose.json instead of the tables")
    diagnose.set_defaults(command=_diagnose)

    report = commands.add_parser("report", help="(re)write the HTML report of a run, search, ablation or comparison "
                                                "folder: report.html, and its numbers in summary.json")
    report.add_argument("folder", metavar="DIR", help="the --out folder of a fit, search, ablate or compare")
    report.add_argument("--data", help="the images, when the run was trained on arrays or its images moved")
    report.add_argument("--val", help="the validation images, likewise")
    report.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    _trust_flag(report)
    report.set_defaults(command=_report)

    show = commands.add_parser("show-study", help="show the trials of a search folder")
    show.add_argument("run", metavar="DIR", help="a search folder (the --out of a search)")
    show.add_argument("--json", action="store_true", help="print the trials as JSON")
    show.set_defaults(command=_show_study)

    knobs = commands.add_parser("knobs", help="list every knob (or the named ones): bucket, default, baseline, "
                                              "search range, valid values")
    knobs.add_argument("names", nargs="*", metavar="NAME", help="only these knobs (name or bucket.name)")
    knobs.add_argument("--bucket", help="only this bucket")
    knobs.add_argument("--json", action="store_true", help="print JSON")
    knobs.set_defaults(command=_knobs)

    recipe = commands.add_parser("recipe", help="print a recipe as YAML (the default, or a file with --set applied)")
    recipe.add_argument("--recipe", help="recipe YAML file")
    recipe.add_argument("--set", dest="overrides", action="append", default=[], metavar="KNOB=VALUE")
    recipe.set_defaults(command=_recipe)
    return parser


def _fit(args) -> int:
    from .fitting import fit
    from .training.display import RichProgress, lr_text

    def show(role: str, images) -> None:
        size = f"{images.image_size}x{images.image_size} {'gray' if images.channels == 1 else 'RGB'}"
        skipped = f", {len(images.skipped)} unreadable file(s) skipped (see run.log)" if images.skipped else ""
        err.print(f"{role}: {len(images):,} images, {len(images.classes)} classes, {size} "
                  f"from {safe(images.description)}{skipped}", highlight=False, soft_wrap=True)

    run = fit(args.data, val=args.val, test=args.test, recipe=args.recipe, model=args.model, overrides=args.overrides,
              epochs=args.epochs, budget=args.budget, time_budget=args.time_budget, device=args.device, out=args.out,
              seed=args.seed, val_fraction=args.val_fraction, auto_lr=args.auto_lr, auto_batch=args.auto_batch,
              progress=False if args.quiet else RichProgress(err), on_data=show, unlabeled=args.unlabeled,
              ignore_unlabeled_labels=args.unlabeled_ignore_labels, resume=args.resume, metric=args.metric,
              flagged=args.flagged, flagged_action=args.flagged_action, overwrite=args.overwrite)
    m = run.metrics
    table = Table(title="autorecipe fit", show_header=False)
    rows = [("status", m["status"]), ("best epoch", f"{m['best_epoch'] or '-'} of {m['epochs_run']}"),
            ("validation accuracy", _pct(m["val_accuracy"]) + _within(m.get("val_accuracy_interval"))),
            ("validation balanced accuracy", _pct(m.get("val_balanced_accuracy"))),
            ("validation macro-F1", _pct(m.get("val_macro_f1"))),
            ("validation loss", _num(m["val_loss"]))]
    if m.get("metric") not in (None, "accuracy"):
        rows.append(("kept epoch chosen by", m["metric"].replace("_", " ")))
    if "flagged_images" in m:
        rows.append(("flagged labels", f"{m['flagged_images']} training images "
                                       f"{'dropped' if m['flagged_action'] == 'drop' else 'down-weighted'}"))
    if "test_accuracy" in m:
        rows += [("test accuracy", _pct(m["test_accuracy"])),
                 ("test balanced accuracy", _pct(m.get("test_balanced_accuracy"))), ("test loss", _num(m["test_loss"]))]
    if "calibration" in m:
        rows.append(("calibration", _calibration_text(m["calibration"])))
    if "num_unlabeled" in m:
        rows += [("unlabeled images", f"{m['num_unlabeled']:,} ({m['unlabeled_excluded']:,} also labelled, "
                                      f"validation or test, left out; {m['unlabeled_skipped']:,} unreadable)"),
                 ("pseudo-labels kept", _pct(m["mask_rate"]) if "mask_rate" in m else "-")]
    rows += [("training time", f"{m['train_seconds']:.1f} s"), ("decode time", f"{m['decode_seconds']:.1f} s"),
             ("throughput", f"{m['images_per_second'] or 0:,.0f} images/s"),
             ("device", f"{m['device']} ({m['precision']}), batch {m['batch_size']}"),
             ("learning rate", lr_text(m["lr"], m["peak_lr"], m["batch_size"]))]
    for key, value in rows:
        table.add_row(key, str(value))
    out.print(table)
    if m["best_epoch"] is None:
        err.print(f"[bold red]error:[/] training {m['status']} before its first epoch ended: no model saved; the "
                  f"record is in {safe(str(run.path))}", soft_wrap=True, highlight=False)
    else:
        out.print(f"saved to {safe(str(run.path))}", soft_wrap=True, highlight=False)
    if m["status"] == "diverged":
        kept = "; the model saved is the best before that" if m["best_epoch"] else ""
        err.print("[bold red]error:[/] the training loss became infinite or NaN: lower the learning rate "
                  f"(--set lr=...), or let --auto-lr choose it{kept}", soft_wrap=True, highlight=False)
        return 1
    if m["status"] != "interrupted" and not args.no_report and m["best_epoch"] is not None:
        _write_report(run.path, device=args.device, trust_model_code=True)  # the model this fit was given
    if m["status"] == "interrupted":
        out.print(f"continue it with: autorecipe fit --resume {safe(str(run.path))}", soft_wrap=True,
                  highlight=False)
    return 130 if m["status"] == "interrupted" else 0


def _search(args) -> int:
    """search, with a database worker's heartbeat and grace period (settings carried as environment variables)."""
    from .searching.storage import GRACE, HEARTBEAT
    beats = {HEARTBEAT: args.heartbeat, GRACE: args.grace}
    with _environment({name: None if value is None else str(value) for name, value in beats.items()}):
        return _searched(args)


def _searched(args) -> int:
    from .searching import search
    from .searching.display import LiveTrials
    parts = (args.budget, f"{args.trials} trials" if args.trials is not None else None,
             f"{args.time_budget:g}s" if args.time_budget is not None else None)
    budget = ", ".join(part for part in parts if part) or None
    overrides = args.overrides + ([f"model={args.model}"] if args.model else [])
    result = search(args.data, val=args.val, test=args.test, budget=budget, recipe=args.recipe, overrides=overrides,
                    epochs=args.epochs, space=args.space,
                    buckets=[b.strip() for b in args.buckets.split(",")] if args.buckets else None,
                    sampler=args.sampler, pruner=args.pruner, min_epochs=args.min_epochs, cv=args.cv,
                    storage=args.storage, study_name=args.study_name, resume=args.resume,
                    library=False if args.no_library else args.library, retrain=not args.no_retrain,
                    retrain_on_all=args.retrain_on_all,
                    out=args.out, seed=args.seed, device=args.device, val_fraction=args.val_fraction,
                    progress=False if args.quiet else LiveTrials(err), unlabeled=args.unlabeled,
                    ignore_unlabeled_labels=args.unlabeled_ignore_labels, metric=args.metric)
    found = result.counts
    if result.status == "interrupted":  # one line: where it stands and how to go on
        out.print(f"search interrupted: {found['complete']} complete, {found['pruned']} pruned, "
                  f"{found['failed']} failed trials; best so far trial {result.best_trial}: {_pct(result.score)} "
                  f"({result.path / 'best_recipe.yaml'}); resume it with --resume --out {result.path}",
                  soft_wrap=True, highlight=False)
        return 130
    table = Table(title="autorecipe search", show_header=False)
    rows = [("status", result.status), ("chosen trial", f"{result.best_trial}: {_pct(result.score)}"),
            ("trials", f"{found['complete']} complete, {found['pruned']} pruned, {found['failed']} failed")]
    if result.verdict is not None:
        rows.append(("against the base recipe", result.verdict.sentence()))
    rows += [(f"importance: {bucket}", f"{value:.2f}") for bucket, value in result.bucket_importance.items()]
    if result.importance_note:
        rows.append(("importance", result.importance_note))
    if result.run is not None and result.run.metrics["val_accuracy"] is not None:
        rows.append(("retrained validation accuracy", _pct(result.run.metrics["val_accuracy"])))
    if result.run is not None and "test_accuracy" in result.run.metrics:
        rows.append(("retrained test accuracy", _pct(result.run.metrics["test_accuracy"])))
    elif result.run is not None:
        rows.append(("retrained", f"on all {result.run.metrics['num_train']:,} labelled images"))
    for key, value in rows:
        table.add_row(key, str(value))
    out.print(table)
    out.print(f"best recipe: {result.path / 'best_recipe.yaml'}", soft_wrap=True, highlight=False)
    if result.run is not None:
        out.print(f"final model: {result.run.path}", soft_wrap=True, highlight=False)
    if not args.no_report:
        _write_report(result.path, device=args.device, trust_model_code=True)  # the model this search was given
    return 130 if result.status == "interrupted" else 0


def _cell_printers(seeds: int):
    """What ablate and compare print: the plan before it starts, then a line a finished cell."""
    def planned(arms, fits: int, estimate: str) -> None:
        err.print(f"{len(arms)} arm(s) x {seeds} seed(s): {fits} fit(s) to run, {estimate}", highlight=False)

    def finished(cell: dict, number: int, total: int) -> None:
        err.print(f"[{number}/{total}] {safe(cell['arm'])}, seed {cell['seed']}: {_pct(cell['val_accuracy'])} "
                  f"({cell['seconds']:.0f} s)", highlight=False)
    return planned, finished


def _ablate(args) -> int:
    from .ablation import ablate
    from .ablation.arms import ORDER

    planned, finished = _cell_printers(args.seeds)
    result = ablate(args.source, args.data, val=args.val, test=args.test, seeds=args.seeds, budget=args.budget,
                    order=args.order or ORDER, knobs=args.knobs, interaction=args.interaction, out=args.out,
                    resume=args.resume, device=args.device, val_fraction=args.val_fraction,
                    unlabeled=args.unlabeled, on_plan=planned, on_cell=finished)
    table = Table(title="autorecipe ablate: validation accuracy over seeds")
    for column in ("arm", "mean", "std", "95% interval"):
        table.add_column(column)
    for score in result.scores.values():
        low, high = score.interval()
        table.add_row(safe(score.name), _pct(score.mean), f"{100 * score.std:.2f}",
                      f"[{_pct(low)}, {_pct(high)}]" if len(score.accuracies) > 1 else "-")
    out.print(table)
    for line in result.verdicts():
        out.print(safe(line), highlight=False, soft_wrap=True)
    out.print(f"saved to {safe(str(result.path))}", highlight=False, soft_wrap=True)
    if not args.no_report:
        _write_report(result.path, device=args.device)
    return 0


def _compare(args) -> int:
    from .ablation import compare

    planned, finished = _cell_printers(args.seeds)
    result = compare(args.source, args.data, vary=args.vary, seeds=args.seeds, budget=args.budget, out=args.out,
                     resume=args.resume, val=args.val, test=args.test, device=args.device,
                     val_fraction=args.val_fraction, unlabeled=args.unlabeled, on_plan=planned, on_cell=finished)
    table = Table(title="autorecipe compare: validation accuracy over seeds")
    for column in ("knob", "value", "mean", "std", "95% interval", "against the recipe's value"):
        table.add_column(column)
    for variant in result.variants:
        low, high = variant.score.interval()
        against = variant.difference.bootstrap.points() if variant.difference else "(the recipe's)"
        table.add_row(safe(variant.knob), safe(str(variant.value)), _pct(variant.score.mean),
                      f"{100 * variant.score.std:.2f}",
                      f"[{_pct(low)}, {_pct(high)}]" if len(variant.score.accuracies) > 1 else "-", safe(against))
    out.print(table)
    out.print(f"saved to {safe(str(result.path))}", highlight=False, soft_wrap=True)
    if not args.no_report:
        _write_report(result.path, device=args.device)
    return 0


def _diagnose(args) -> int:
    from .diagnosing import diagnose

    def planned(fits, estimate: str) -> None:
        err.print(f"{len(fits)} fit(s) to run: {', '.join(f.name for f in fits)}; {estimate}", highlight=False)

    def finished(outcome, number: int, total: int) -> None:
        accuracy = outcome.val_correct.mean() if outcome.val_correct is not None else None
        err.print(f"[{number}/{total}] {outcome.fit.name} ({len(outcome.fit.positions)} images): "
                  f"{_pct(accuracy)} ({outcome.seconds:.0f} s)", highlight=False)

    found = diagnose(args.data, val=args.val, test=args.test, out=args.out, budget=args.budget,
                     checks_only=args.checks_only, recipe=args.recipe, overrides=args.overrides, folds=args.folds,
                     device=args.device, seed=args.seed, val_fraction=args.val_fraction,
                     near_distance=args.near_distance, on_plan=planned, on_fit=finished)
    summary = found.to_dict()
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    sets = Table(title="autorecipe diagnose: the data")
    for column in ("set", "images", "classes", "imbalance", "sizes", "colour modes", "unreadable"):
        sets.add_column(column)
    for role, entry in found.sets.items():
        sizes = ", ".join(f"{k} ({v})" for k, v in list(entry.get("sizes", {}).items())[:3]) or "(split of train)"
        modes = ", ".join(f"{k} ({v})" for k, v in entry.get("modes", {}).items()) or "(split of train)"
        sets.add_row(role, str(entry["images"]), str(len(entry["classes"])), f"{entry['imbalance_ratio']:.1f}x",
                     safe(sizes), safe(modes), str(len(entry["unreadable"])))
    out.print(sets)
    if found.duplicates:
        pairs = Table(title=f"duplicates: {len(found.duplicates)} pair(s), the closest")
        for column in ("kind", "bits", "image", "label", "its duplicate", "label "):
            pairs.add_column(column)
        for p in found.duplicates[:10]:
            pairs.add_row(p["kind"], str(p["distance"]), safe(f"{p['set_a']}: {p['image_a']}"), safe(p["label_a"]),
                          safe(f"{p['set_b']}: {p['image_b']}"), safe(p["label_b"]))
        out.print(pairs)
    if found.label_issues:
        issues = Table(title=f"probably wrong labels: {len(found.label_issues)}, the likeliest")
        for column in ("rank", "image", "label", "predicted", "label quality"):
            issues.add_column(column)
        for row in found.label_issues[:10]:
            issues.add_row(str(row["rank"]), safe(row["image"]), safe(row["label"]), safe(row["predicted"]),
                           f"{row['label_quality']:.3f}")
        out.print(issues)
    for line in ([found.learning_curve["text"]] if found.learning_curve else []) + (
            [f"fit verdict: {found.verdict['text']}"] if found.verdict else []):
        out.print(safe(line), highlight=False, soft_wrap=True)
    for number, need in enumerate(found.needs, 1):
        out.print(f"[bold]needs {number}:[/] {safe(need['text'])}", highlight=False, soft_wrap=True)
    out.print(f"saved to {safe(str(found.path))}", highlight=False, soft_wrap=True)
    return 0


def _report(args) -> int:
    from .reporting import report
    path = report(args.folder, data=args.data, val=args.val, device=args.device,
                  trust_model_code=args.trust_model_code)
    out.print(f"report: {safe(str(path))}", highlight=False, soft_wrap=True)
    return 0


def _write_report(folder, device: str | None, trust_model_code: bool = False) -> None:
    """The report at the end of a verb; a failure is a warning (the verb's own results are saved already)."""
    from .reporting import report
    try:
        path = report(folder, device=device, trust_model_code=trust_model_code)
    except (AutorecipeError, OSError, ValueError, RuntimeError) as error:
        err.print(f"[yellow]warning:[/] report not written ({safe(str(error))}); "
                  f"`autorecipe report {safe(str(folder))}` tries again", highlight=False, soft_wrap=True)
        return
    out.print(f"report: {safe(str(path))}", highlight=False, soft_wrap=True)


def _show_study(args) -> int:
    from .searching.display import trials_table
    from .searching.results import trials_rows
    from .searching.search import load_study
    study = load_study(args.run)
    if args.json:
        print(json.dumps(trials_rows(study), indent=1))
    else:
        out.print(trials_table(study))
    return 0


def _load(args):
    """The run folder DIR of evaluate, predict and export, loaded as data (its model code only when trusted)."""
    from .run import Run
    return Run.load(args.run, trust_model_code=args.trust_model_code)


def _evaluate(args) -> int:
    from .run import evaluate
    result = evaluate(_load(args), args.data, device=args.device, top_k=args.top_k)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    table = Table(title=f"{safe(str(args.data))}: {result['count']:,} images")
    for column in ("class", "images", "accuracy (recall)", "precision", "F1"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in result["per_class"].items():
        table.add_row(safe(name), f"{row['support']:,}", _pct(row["recall"]), _pct(row["precision"]), _pct(row["f1"]))
    table.add_section()
    table.add_row("[bold]all", f"{result['count']:,}", f"[bold]{_pct(result['accuracy'])}", "", "")
    out.print(table)
    out.print(f"balanced accuracy {_pct(result['balanced_accuracy'])}, macro-F1 {_pct(result['macro_f1'])}, "
              f"top-{result['top_k']} accuracy {_pct(result['top_k_accuracy'])}, loss {result['loss']:.4f}, "
              f"expected calibration error {_pct(result['ece'])}"
              f"{'' if result['calibrated'] else ' (uncalibrated)'}"
              + (f"; {len(result['skipped'])} unreadable file(s) skipped" if result["skipped"] else ""),
              highlight=False)
    return 0


def _predict(args) -> int:
    from rich.progress import Progress

    from .predicting import predict_source, write_predictions
    with Progress(console=err, transient=True, disable=args.quiet or args.json) as progress:
        task = progress.add_task("predicting", total=None)
        rows = predict_source(_load(args), args.images, top_k=args.top_k, tta=args.tta, batch_size=args.batch_size,
                              device=args.device,
                              on_progress=lambda done, total: progress.update(task, completed=done, total=total))
        if args.out:
            counts = write_predictions(rows, Path(args.out), args.top_k)
        else:
            rows = list(rows)
            counts = {"images": len(rows), "unreadable": sum(bool(r.error) for r in rows)}
    if args.json and not args.out:
        print(json.dumps([{"image": r.image, "predictions": [{"class": c, "probability": p} for c, p in r.top],
                           **({"error": r.error} if r.error else {})} for r in rows], indent=2))
        return 0
    if not args.out:
        table = Table()
        for column in ("image", "class", "probability"):
            table.add_column(column, justify="right" if column == "probability" else "left", overflow="fold")
        for row in rows[:SHOWN_PREDICTIONS]:
            if row.error:
                table.add_row(safe(row.image), "[red]unreadable", safe(row.error))
            for rank, (name, probability) in enumerate(row.top):
                table.add_row(safe(row.image) if rank == 0 else "", safe(name), f"{probability:.4f}")
        out.print(table)
        if len(rows) > SHOWN_PREDICTIONS:
            out.print(f"the first {SHOWN_PREDICTIONS} of {len(rows):,} images shown; --out FILE.csv writes them all",
                      highlight=False)
    unreadable = f", {counts['unreadable']:,} unreadable (their reasons in the error column)" if counts[
        "unreadable"] else ""
    written = f": {safe(args.out)}" if args.out else ""
    err.print(f"predicted {counts['images'] - counts['unreadable']:,} of {counts['images']:,} images"
              f"{unreadable}{written}", highlight=False, soft_wrap=True)
    return 0


def _export(args) -> int:
    from .exporting import export
    written = export(_load(args), format=args.format, out=args.out, batch=args.batch)
    meta = written.metadata
    if args.json:
        print(json.dumps(meta, indent=1))
        return 0
    shape = "x".join("N" if n == "batch" else str(n) for n in meta["input"]["shape"])
    check = meta["parity"]
    out.print(f"exported {safe(str(written.path))}: uint8 {shape} images -> {len(meta['classes'])} "
              f"{'calibrated ' if meta['calibrated'] else ''}probabilities", highlight=False, soft_wrap=True)
    out.print(f"parity with PyTorch: largest difference {check['max_abs_difference']:.1e} over {check['images']} "
              f"images in {safe(check['runtime'])} (tolerance {check['tolerance']:g})", highlight=False,
              soft_wrap=True)
    out.print(f"metadata: {safe(str(written.metadata_path))}", highlight=False, soft_wrap=True)
    return 0


def _knobs(args) -> int:
    from .architecture.registry import honoured_by
    from .knobs import BUCKETS, lookup_knob, registry
    if args.bucket and args.bucket not in BUCKETS:
        raise AutorecipeError(f"--bucket {args.bucket}: unknown bucket; valid buckets: {', '.join(BUCKETS)}")
    chosen = [lookup_knob(name) for name in args.names] if args.names else list(registry().values())
    chosen = [knob for knob in chosen if args.bucket in (None, knob.bucket)]
    if args.json:
        print(json.dumps([{"name": k.name, "bucket": k.bucket, "default": k.default, "baseline": k.baseline,
                           "valid": k.valid_values(), "search": str(k.search) if k.search else None,
                           "models": honoured_by(k.name), "doc": k.help} for k in chosen], indent=1))
        return 0
    if not args.names:  # one line a knob; `autorecipe knobs NAME` tells the rest
        for bucket in BUCKETS:
            knobs = [knob for knob in chosen if knob.bucket == bucket]
            if knobs:
                table = Table(title=f"{bucket} ({len(knobs)} knobs)", title_justify="left", box=None)
                for column in ("knob", "default", "baseline", "search range"):
                    table.add_column(column, overflow="fold")
                for knob in knobs:
                    table.add_row(f"[cyan]{knob.name}", str(knob.default), str(knob.baseline),
                                  safe(str(knob.search or "-")))
                out.print(table)
        out.print("details: autorecipe knobs NAME [NAME ...]; everything: autorecipe knobs --json", highlight=False)
        return 0
    for knob in chosen:
        out.print(f"[bold cyan]{knob.name}[/] ({knob.bucket})   default {knob.default}   baseline {knob.baseline}",
                  highlight=False)
        out.print(f"  valid: {safe(knob.valid_values())}", highlight=False)
        out.print(f"  search: {safe(str(knob.search or '-'))}", highlight=False)
        models = honoured_by(knob.name)
        if models:
            out.print(f"  models: {', '.join(models)}", highlight=False)
        out.print(f"  {safe(knob.help)}", highlight=False)
    return 0


def _recipe(args) -> int:
    from .recipe import Recipe
    recipe = Recipe.load(args.recipe) if args.recipe else Recipe()
    print(recipe.with_overrides(args.overrides).to_yaml(), end="")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """autorecipe's warnings as one line ("warning: ..."); others as Python prints them."""
    if issubclass(category, AutorecipeWarning):
        err.print(f"[bold yellow]warning:[/] {safe(str(message))}", highlight=False, soft_wrap=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


def _on_path(error: OSError, out: str | None) -> bool:
    """Whether `error` is about the folder `out`: the folder itself, a file in it or a parent of it."""
    if out is None or error.filename is None:
        return False
    target, failed = Path(out).resolve(), Path(os.fsdecode(error.filename)).resolve()
    return failed == target or target in failed.parents or failed in target.parents


def _calibration_text(record: dict) -> str:
    """'temperature 1.42: expected calibration error 5.10% -> 1.20%', or why calibration was skipped."""
    if "skipped" in record:
        return f"skipped: {record['skipped']}"
    return (f"temperature {record['temperature']:.3f}: expected calibration error {_pct(record['ece_before'])} -> "
            f"{_pct(record['ece_after'])}")


def _within(interval) -> str:
    """' (95%: 54.3-67.8%)' for an accuracy's interval, or nothing."""
    return "" if not interval else f" (95%: {100 * interval[0]:.1f}-{100 * interval[1]:.1f}%)"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main())
