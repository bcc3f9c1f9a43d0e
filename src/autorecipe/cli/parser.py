"""The command line's options: one subcommand a verb, and the options before it that hold for every verb."""

from __future__ import annotations

import argparse

from ..data.images import DEFAULT_MAX_PIXELS
from ..durations import parse_duration
from ..errors import AutorecipeError
from ..version import __version__


def _duration(text: str) -> float:
    """argparse type for --time-budget."""
    try:
        return parse_duration(text)
    except AutorecipeError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _device_flag(verb: argparse.ArgumentParser) -> None:
    """--device, for the verbs that run a model."""
    verb.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")


def _seed_flag(verb: argparse.ArgumentParser) -> None:
    """--seed, for the verbs that split the data and train."""
    verb.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _no_report_flag(verb: argparse.ArgumentParser) -> None:
    """--no-report, for the verbs that write report.html at their end."""
    verb.add_argument("--no-report", action="store_true", help="do not write report.html at the end")


def _trust_flag(verb: argparse.ArgumentParser) -> None:
    """--trust-model-code, for the verbs that load a run folder."""
    verb.add_argument("--trust-model-code", action="store_true",
                      help="the run was trained on your own model (package.module:factory): import that code to "
                           "rebuild it (only for folders you trust)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of `autorecipe`; `verb` names the subcommand given (main.VERBS runs it)."""
    parser = argparse.ArgumentParser(prog="autorecipe", description="Train image classifiers with a strong recipe.")
    parser.add_argument("--version", action="version", version=f"autorecipe {__version__}")
    parser.add_argument("--data-root", metavar="DIR",
                        help="every path a CSV manifest lists must lie under DIR (default: any path)")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help=f"decode no image larger than N pixels, width x height (default {DEFAULT_MAX_PIXELS:,}, "
                             f"as Pillow): larger files are skipped as unreadable")
    commands = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

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
    _device_flag(fit)
    fit.add_argument("--out", help="output folder (default: runs/fit-DATE-TIME); one that holds a run needs "
                                   "--overwrite")
    fit.add_argument("--overwrite", action="store_true",
                     help="replace the run in --out: the folder is emptied once the data has loaded")
    _seed_flag(fit)
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
    _no_report_flag(fit)

    evaluate = commands.add_parser("evaluate", help="score a trained run on labelled data")
    evaluate.add_argument("run", metavar="DIR", help="a run folder written by fit")
    evaluate.add_argument("data", help="labelled data: folder, .csv, .npz or 'digits'")
    evaluate.add_argument("--top-k", type=int, default=5,
                          help="also count an image right when its class is among the K likeliest (default 5)")
    _device_flag(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    _trust_flag(evaluate)

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
    _device_flag(predict)
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    _trust_flag(predict)

    export = commands.add_parser("export", help="write a run's model as ONNX or TorchScript: uint8 images in, "
                                                "calibrated probabilities out, checked against PyTorch")
    export.add_argument("run", metavar="DIR", help="a run folder written by fit")
    export.add_argument("--format", default="onnx", help="onnx (default) or torchscript")
    export.add_argument("--batch", default="1", help="images a call takes: a number (default 1) or 'dynamic'")
    export.add_argument("--out", help="the file to write (default: DIR/model.onnx or DIR/model.torchscript.pt)")
    export.add_argument("--json", action="store_true", help="print the export's metadata as JSON")
    _trust_flag(export)

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
    _device_flag(search)
    search.add_argument("--out", help="output folder (default: runs/search-DATE-TIME)")
    _seed_flag(search)
    search.add_argument("--val-fraction", type=float, default=0.1, help="held-out share without --val (default 0.1)")
    search.add_argument("--metric", default="auto",
                        help="what a trial scores on validation: auto (default: balanced_accuracy when the training "
                             "classes are imbalanced, else accuracy), accuracy, balanced_accuracy or macro_f1")
    search.add_argument("--quiet", action="store_true", help="no live table")
    _no_report_flag(search)

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
    _device_flag(ablate)
    ablate.add_argument("--out", help="output folder (default: runs/ablate-DATE-TIME)")
    ablate.add_argument("--resume", action="store_true", help="continue the ablation saved in --out")
    _no_report_flag(ablate)

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
    _device_flag(compare)
    compare.add_argument("--out", help="output folder (default: runs/compare-DATE-TIME)")
    compare.add_argument("--resume", action="store_true", help="continue the comparison saved in --out")
    _no_report_flag(compare)

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
    _device_flag(diagnose)
    _seed_flag(diagnose)
    diagnose.add_argument("--out", help="output folder (default: runs/diagnose-DATE-TIME)")
    diagnose.add_argument("--json", action="store_true", help="print diagnose.json instead of the tables")

    report = commands.add_parser("report", help="(re)write the HTML report of a run, search, ablation or comparison "
                                                "folder: report.html, and its numbers in summary.json")
    report.add_argument("folder", metavar="DIR", help="the --out folder of a fit, search, ablate or compare")
    report.add_argument("--data", help="the images, when the run was trained on arrays or its images moved")
    report.add_argument("--val", help="the validation images, likewise")
    _device_flag(report)
    _trust_flag(report)

    show = commands.add_parser("show-study", help="show the trials of a search folder")
    show.add_argument("run", metavar="DIR", help="a search folder (the --out of a search)")
    show.add_argument("--json", action="store_true", help="print the trials as JSON")

    knobs = commands.add_parser("knobs", help="list every knob (or the named ones): bucket, default, baseline, "
                                              "search range, valid values")
    knobs.add_argument("names", nargs="*", metavar="NAME", help="only these knobs (name or bucket.name)")
    knobs.add_argument("--bucket", help="only this bucket")
    knobs.add_argument("--json", action="store_true", help="print JSON")

    recipe = commands.add_parser("recipe", help="print a recipe as YAML (the default, or a file with --set applied)")
    recipe.add_argument("--recipe", help="recipe YAML file")
    recipe.add_argument("--set", dest="overrides", action="append", default=[], metavar="KNOB=VALUE")
    return parser
