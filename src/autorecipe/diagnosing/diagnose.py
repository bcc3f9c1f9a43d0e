"""`diagnose`: what the data needs next. Checks that train nothing (class balance, image sizes and colour
modes, unreadable files, exact and near-duplicates within and across the sets, the same image under two
labels), then, unless checks only, out-of-fold fits whose probabilities rank the probably wrong labels and a
learning curve that says whether more labels would help, and the fit verdict on the curves of the fit on
every training image. Written to `out`: diagnose.json and CSVs of the flagged files."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


from ..version import __version__
from ..budget import Budget, parse_budget
from ..data.balance import FEW_IMAGES, IMBALANCED, imbalance_ratio
from ..data.checks import duplicate_pairs
from ..data.duplicates import NEAR_DISTANCE
from ..data.inventory import inventory
from ..data.label_issues import find_label_issues_ranked
from ..data.split import check_fraction, load_splits
from ..device import choose_device
from ..errors import AutorecipeError
from ..files import write_atomic
from ..output_folder import OutputFolder, check_kind, default_folder
from ..recipe import Recipe
from ..reporting.verdict import fit_verdict
from ..training.setup import check_seed, resolve_balance_knob, resolve_flip, resolve_lr
from .fits import FitOutcome, PlannedFit, curve_points, out_of_fold, plan_fits, run_all
from .learning_curve import FRACTIONS, learning_curve

log = logging.getLogger("autorecipe")

REPORT, DUPLICATES, LABEL_ISSUES, UNREADABLE = "diagnose.json", "duplicates.csv", "label_issues.csv", "unreadable.csv"
FOLDS = 4
NOISY_SHARE = 0.01  # flagged labels above this share of the training images: cleaner labels come first
LISTED = 10_000  # rows at most in a CSV


@dataclass
class Diagnosis:
    """Everything diagnose found; `needs` says, first first, what the data needs next."""

    path: Path
    sets: dict
    duplicates: list[dict]
    label_issues: list[dict] | None = None
    learning_curve: dict | None = None
    verdict: dict | None = None
    fits: list[dict] = field(default_factory=list)
    needs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        counts = _duplicate_counts(self.duplicates)
        return {"autorecipe_version": __version__, "sets": self.sets, "duplicates": counts,
                "label_issues": None if self.label_issues is None else
                {"count": len(self.label_issues), "top": self.label_issues[:20]},
                "learning_curve": self.learning_curve, "fit_verdict": self.verdict, "fits": self.fits,
                "needs": self.needs}


def diagnose(data, *, val=None, test=None, out=None, budget: str | None = None, checks_only: bool = False,
             recipe: Recipe | str | Path | Mapping | None = None, overrides: Iterable[str] | Mapping | None = None,
             folds: int = FOLDS, device: str | None = None, seed: int = 0, val_fraction: float = 0.1,
             near_distance: int = NEAR_DISTANCE,
             on_plan: Callable[[list[PlannedFit], str], None] | None = None,
             on_fit: Callable[[FitOutcome, int, int], None] | None = None) -> Diagnosis:
    """Diagnose `data` (and `val`, `test`: any source fit takes) with the recipe fit would train (`recipe`,
    `overrides`); `budget` (a time or epochs, the budget grammar) is shared by all the fits; `checks_only`
    trains nothing. `on_plan` hears the fits and their estimated time before they start, `on_fit` each
    finished fit. Returns the Diagnosis, also written to `out` (default runs/diagnose-DATE-TIME)."""
    limits = parse_budget(budget) if budget is not None else Budget()
    if limits.trials is not None:
        raise AutorecipeError(f"budget {budget!r}: diagnose trains fits, not trials; give a time ('10m') or "
                              f"epochs ('40 epochs')")
    if val is None and val_fraction != 0:
        check_fraction(val_fraction)
    check_seed(seed)
    recipe = Recipe.coerce(recipe, overrides)
    out = Path(out) if out is not None else default_folder("diagnose")
    check_kind(out, "diagnosis")
    with OutputFolder(out, "diagnose.log", remove_on_user_error=True) as folder:
        log.info("autorecipe %s diagnose %s", __version__, "arrays" if isinstance(data, tuple) else data)

        # The checks that train nothing
        splits = load_splits(data, val, test, recipe, val_fraction, seed, None, None)
        folder.open_log()
        parts = {"train": splits.train, "validation": splits.val, "test": splits.test}
        parts = {role: part for role, part in parts.items() if part is not None}
        sets = _describe_sets(parts, {"train": data, "validation": val, "test": test})
        duplicates = duplicate_pairs(parts, near_distance)
        diagnosis = Diagnosis(out, sets, duplicates)

        # The fits: out-of-fold probabilities for the label checker, the learning curve, the fit verdict
        if not checks_only:
            _train_and_judge(diagnosis, splits, limits, folds, choose_device(device), seed, on_plan, on_fit)
        diagnosis.needs = _needs(diagnosis, splits.train.classes)
        _write(diagnosis, splits)
        return diagnosis


def _train_and_judge(diagnosis: Diagnosis, splits, limits: Budget, folds: int, device, seed: int,
                     on_plan, on_fit) -> None:
    """Fill in the label issues, the learning curve and the verdict from the fits."""
    train_data, val_data = splits.train, splits.val
    recipe = resolve_balance_knob(resolve_flip(resolve_lr(splits.recipe), train_data), train_data)
    if recipe.data.semi_supervised == "auto":
        recipe = recipe.with_values({"semi_supervised": "none"})
    planned = plan_fits(train_data.y, folds, list(FRACTIONS), limits, recipe.optimization.epochs, seed)
    estimate = (f"about {limits.seconds / 60:.0f} min of training" if limits.seconds else
                f"{planned[0].epochs} epochs each (the time follows from the first fit)")
    log.info("diagnose: %d fits, %s", len(planned), estimate)
    if on_plan is not None:
        on_plan(planned, estimate)
    outcomes = run_all(planned, recipe, train_data, val_data, device, seed, on_fit)
    diagnosis.fits = [{"name": o.fit.name, "images": len(o.fit.positions), "epochs": len(o.history),
                       "seconds": o.seconds,
                       "val_accuracy": float(o.val_correct.mean()) if o.val_correct is not None else None}
                      for o in outcomes]
    probabilities = out_of_fold(outcomes, len(train_data), len(train_data.classes))
    issues = find_label_issues_ranked(train_data.y, probabilities)
    names = train_data.names(issues.ranked) if len(issues.ranked) else []
    diagnosis.label_issues = [
        {"rank": rank, "image": name, "label": train_data.classes[train_data.y[p]],
         "predicted": train_data.classes[issues.predicted[p]], "label_quality": float(issues.quality[p])}
        for rank, (p, name) in enumerate(zip(issues.ranked.tolist(), names), 1)]
    if val_data is not None:
        sizes, correct = curve_points(outcomes)
        diagnosis.learning_curve = learning_curve(sizes, correct, seed).to_dict()
    full = max(outcomes, key=lambda o: o.fit.share)
    diagnosis.verdict = fit_verdict(full.history).to_dict()


def _describe_sets(parts: dict, specs: dict) -> dict:
    """Per set: the inventory of its source (when it is a source of its own), its images, classes and
    unreadable files."""
    described = {}
    for role, part in parts.items():
        counts = part.class_counts()
        entry = {"images": len(part), "image_size": part.image_size, "channels": part.channels,
                 "classes": {name: int(n) for name, n in zip(part.classes, counts)},
                 "imbalance_ratio": imbalance_ratio(counts),
                 "few_image_classes": [name for name, n in zip(part.classes, counts) if 0 < n < FEW_IMAGES],
                 "unreadable": [{"image": path, "reason": reason} for path, reason in part.skipped]}
        if specs.get(role) is not None:
            source = inventory(specs[role])
            entry.update(sizes=source["sizes"], distinct_sizes=source["distinct_sizes"],
                         shorter_side=source["shorter_side"], modes=source["modes"])
        described[role] = entry
    return described


def _duplicate_counts(pairs: list[dict]) -> dict:
    """Pairs by kind and sets (e.g. "near train-validation"), and those under two labels."""
    counts: dict[str, int] = {}
    for pair in pairs:
        key = f"{pair['kind']} {pair['set_a']}-{pair['set_b']}"
        counts[key] = counts.get(key, 0) + 1
    return {"pairs": len(pairs), "by_kind": counts, "conflicting_labels": sum(p["conflict"] for p in pairs)}


def _needs(diagnosis: Diagnosis, classes: list[str]) -> list[dict]:
    """What the data needs next, most pressing first: each {"need", "text"}; "nothing" when none applies."""
    needs = []
    train = diagnosis.sets["train"]
    conflicts = [p for p in diagnosis.duplicates if p["conflict"]]
    flagged = diagnosis.label_issues or []
    if conflicts or len(flagged) > NOISY_SHARE * train["images"]:
        parts = []
        if flagged:
            parts.append(f"{len(flagged)} training images ({100 * len(flagged) / train['images']:.1f}%) are "
                         f"probably mislabelled (label_issues.csv, likeliest first)")
        if conflicts:
            parts.append(f"{len(conflicts)} pairs of duplicate images carry different labels (duplicates.csv)")
        needs.append({"need": "cleaner_labels", "text": "cleaner labels: " + "; ".join(parts)})
    leaks = [p for p in diagnosis.duplicates if p["set_a"] != p["set_b"]]
    within = [p for p in diagnosis.duplicates if p["set_a"] == p["set_b"]]
    if leaks or within:
        parts = ([f"{len(leaks)} pairs across sets (a validation or test score that counts training images)"]
                 if leaks else []) + ([f"{len(within)} pairs within a set"] if within else [])
        needs.append({"need": "fewer_duplicates", "text": "fewer duplicates: " + "; ".join(parts)
                      + " (duplicates.csv)"})
    curve = diagnosis.learning_curve
    few = train["few_image_classes"]
    if few or train["imbalance_ratio"] >= IMBALANCED or (curve and curve["kind"] == "more_labels_help"):
        parts = [curve["text"]] if curve and curve["kind"] == "more_labels_help" else []
        if few:
            parts.append(f"class(es) with fewer than {FEW_IMAGES} images: {', '.join(map(repr, few[:10]))}")
        if train["imbalance_ratio"] >= IMBALANCED:
            smallest = min(train["classes"], key=lambda c: train["classes"][c] or float("inf"))
            parts.append(f"the classes are imbalanced ({train['imbalance_ratio']:.1f}x); {smallest!r} has the "
                         f"fewest images")
        needs.append({"need": "more_labels", "text": "more labels: " + "; ".join(parts)})
    if not needs:
        said = f" ({curve['text']})" if curve else ""
        needs.append({"need": "nothing", "text": f"nothing the checks found{said}"})
    return needs


def _write(diagnosis: Diagnosis, splits) -> None:
    """diagnose.json and the CSVs of flagged files."""
    out = diagnosis.path
    write_atomic(out / REPORT, json.dumps(diagnosis.to_dict(), indent=1).encode())
    write_atomic(out / DUPLICATES, _csv(diagnosis.duplicates, ["kind", "distance", "set_a", "image_a", "label_a",
                                                               "set_b", "image_b", "label_b", "conflict"]))
    if diagnosis.label_issues is not None:
        write_atomic(out / LABEL_ISSUES, _csv(diagnosis.label_issues,
                                              ["rank", "image", "label", "predicted", "label_quality"]))
    unreadable = [{"set": role, **row} for role, entry in diagnosis.sets.items() for row in entry["unreadable"]]
    write_atomic(out / UNREADABLE, _csv(unreadable, ["set", "image", "reason"]))
    log.info("diagnose: %s", "; ".join(n["text"] for n in diagnosis.needs))


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows[:LISTED])
    return text.getvalue().encode()
