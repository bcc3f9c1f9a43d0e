"""The report's sections, each gathered from a folder's files: numbers (for summary.json) and figures.

Every section is a dict with `numbers` (JSON-ready, written to summary.json) and `figures` (data URIs and
image rows, for the HTML only); a section that cannot be drawn carries a `note` saying why in plain words.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

import numpy as np

from ..data.split import load_splits
from ..errors import AutorecipeError, UntrustedModelCode
from ..files import regular
from ..resuming import RECORD
from ..run import Run
from ..training.gradients import FILE as GRADIENTS
from . import figures
from .results import results
from .verdict import fit_verdict

log = logging.getLogger("autorecipe")

SAMPLES_PER_CLASS = 8
SAMPLE_CLASSES = 40  # classes shown in the sample grid, at most
SKIPPED_SHOWN = 20


def run_sections(folder: Path, data=None, val=None, device: str | None = None,
                 trust_model_code: bool = False) -> dict:
    """The data, training and results sections of a run folder. The images come from the sources fit.json
    records (or `data` and `val`, which replace them); when they are gone the sections that need them say so."""
    untrusted = None
    try:
        run = Run.load(folder, trust_model_code=trust_model_code) if (folder / "model.safetensors").is_file() else None
    except UntrustedModelCode as error:
        run, untrusted = None, str(error)
    history = _history(folder)
    metrics = _json(folder / "metrics.json") or {}
    splits, missing = _splits(folder, run, data, val)
    sections = {"training": _training(folder, history, metrics)}
    sections["data"] = _data(splits, metrics) if splits is not None else {"note": missing, "numbers": {}}
    if run is None:
        sections["results"] = {"note": untrusted or "the run saved no model (training ended before its first epoch)",
                               "numbers": {}}
    elif splits is None:
        sections["results"] = {"note": missing, "numbers": {}}
    else:
        scored = splits.val if splits.val is not None else splits.test
        sections["results"] = (_results(run, scored, "validation" if splits.val is not None else "test", device)
                               if scored is not None else
                               {"note": "no validation or test images: the fit trained on every image", "numbers": {}})
    return sections


def _splits(folder: Path, run: Run | None, data, val):
    """The fit's splits rebuilt from its recorded sources and seed, or (None, why not)."""
    record = _json(folder / RECORD)
    if record is None or run is None:
        return None, "no fit.json and model beside this run: its images cannot be found again"
    arguments = record["arguments"]
    sources = {"data": data if data is not None else arguments.get("data"),
               "val": val if val is not None else arguments.get("val"), "test": arguments.get("test")}
    if any(isinstance(s, dict) for s in sources.values() if s is not None):
        return None, ("the run was trained on arrays, which a run folder does not keep: pass them again "
                      "(report(folder, data=..., val=...)) to draw the images")
    gone = [str(s) for s in sources.values() if isinstance(s, str) and s != "digits" and not Path(s).exists()]
    if gone:
        return None, f"the images this run was trained on are gone ({', '.join(gone)}): no images to show"
    try:
        splits = load_splits(sources["data"], sources["val"], sources["test"], run.recipe,
                             arguments.get("val_fraction", 0.1), arguments.get("seed", 0), None, None)
    except (AutorecipeError, OSError) as error:
        return None, f"the run's images could not be read again: {error}"
    return splits, None


def _data(splits, metrics: dict) -> dict:
    """Class counts, a grid of sample images per class, the files skipped."""
    train = splits.train
    classes = train.classes
    counts = {"train": train.class_counts().tolist()}
    for role, part in (("validation", splits.val), ("test", splits.test)):
        if part is not None:
            counts[role] = part.class_counts().tolist()
    rng = np.random.default_rng(0)
    grid = []
    for i, name in enumerate(classes[:SAMPLE_CLASSES]):
        members = np.flatnonzero(train.y == i)
        if len(members):
            chosen = rng.choice(members, min(SAMPLES_PER_CLASS, len(members)), replace=False)
            grid.append({"class": name, "strip": figures.strip([train.x[train.rows[j]] for j in chosen])})
    skipped = [{"path": path, "reason": reason} for path, reason in train.skipped]
    return {"numbers": {"classes": classes, "class_counts": counts, "image_size": train.image_size,
                        "channels": train.channels, "skipped_files": metrics.get("skipped_files", len(skipped)),
                        "skipped": skipped[:SKIPPED_SHOWN]},
            "figures": {"grid": grid, "more_classes": max(0, len(classes) - SAMPLE_CLASSES)}}


def _training(folder: Path, history: list[dict], metrics: dict) -> dict:
    """Curves, the lr finder's curve, the fit verdict, gradient health, timing and hardware."""
    verdict = fit_verdict(history)
    gradients = _json(folder / GRADIENTS)
    finder = _csv(folder / "lr_finder.csv")
    timing = {k: metrics.get(k) for k in ("status", "epochs_run", "best_epoch", "train_seconds", "decode_seconds",
                                          "images_per_second", "device", "hardware", "precision", "batch_size",
                                          "peak_lr", "torch_version", "autorecipe_version") if k in metrics}
    numbers = {"verdict": verdict.to_dict(), "timing": timing, "epochs": len(history),
               "gradient_warnings": gradients["warnings"] if gradients else None,
               "gradient_sampling_share": gradients["cost_share"] if gradients else None}
    shown = {"curves": figures.curves(history) if history else None,
             "lr_finder": figures.lr_finder(finder) if finder else None,
             "gradients": figures.gradients(gradients) if gradients and gradients["steps"] else None}
    return {"numbers": numbers, "figures": shown}


def _results(run: Run, images, role: str, device: str | None) -> dict:
    """The confusion matrix, confused pairs, per-class accuracy, calibration and the highest-loss images."""
    found = results(run, images, device)
    worst = [{**{k: v for k, v in w.items() if k not in ("image", "map")},
              "picture": figures.overlay(w["image"], w["map"])} for w in found.worst]
    calibration = found.calibration
    return {"numbers": {"scored_on": role, **found.to_dict()},
            "figures": {"confusion": figures.confusion(found.confusion, run.classes),
                        "reliability": figures.reliability(calibration["bins"], calibration["ece"])
                        if calibration["bins"] else None,
                        "worst": worst}}


def search_sections(folder: Path) -> dict:
    """The search: objective history, best so far, knob and bucket importance, the trials table."""
    rows = []
    for row in _csv(folder / "trials.csv", numbers=False):
        try:
            rows.append({**row, "number": int(row["number"]), "score": float(row["value"]) if row["value"] else None})
        except (KeyError, ValueError):
            log.warning("%s: a damaged row is left out of the report", folder / "trials.csv")
    importance = _json(folder / "importance.json") or {}
    summary = _json(folder / "summary.json") or {}
    numbers = {"status": summary.get("status"), "best_trial": summary.get("best_trial"),
               "best_score": summary.get("best_score"), "trials": summary.get("trials"),
               "adoption": summary.get("adoption"), "importance": importance}
    shown = {"history": figures.search_history(rows) if any(r["score"] is not None for r in rows) else None,
             "knobs": figures.bars(importance["knobs"], "knob importance (fANOVA)") if importance.get("knobs")
             else None,
             "buckets": figures.bars(importance["buckets"], "bucket importance") if importance.get("buckets")
             else None,
             "columns": list(rows[0]) if rows else [], "rows": rows}
    return {"numbers": numbers, "figures": shown, "note": importance.get("note")}


def ablation_sections(folder: Path) -> dict:
    """The ablation: the waterfall of the cumulative path and the leave-one-out table with intervals."""
    summary = _json(folder / "summary.json")
    arms = {a["name"]: a for a in summary["arms"]}
    start = arms.get("baseline")
    waterfall = figures.waterfall(start, summary["path"]) if start and summary["path"] else None
    verdicts = [b["verdict"] for b in summary["buckets"]] + [f"{b}: nothing to ablate"
                                                             for b in summary["nothing_to_ablate"]]
    numbers = {"total": summary["total"]["verdict"], "verdicts": verdicts,
               "interaction": summary["interaction"]["verdict"] if summary["interaction"] else None}
    return {"numbers": numbers, "figures": {"waterfall": waterfall, **summary}}


def comparison_sections(folder: Path) -> dict:
    """The comparison: every variant's accuracy over the seeds and its paired difference from the recipe."""
    summary = _json(folder / "summary.json")
    lines = [v["difference"]["verdict"] for v in summary["variants"] if v["difference"]]
    return {"numbers": {"verdicts": lines}, "figures": summary}


def _history(folder: Path) -> list[dict]:
    return [{k: int(v) if k == "epoch" else v for k, v in row.items()} for row in _csv(folder / "history.csv")]


def _json(path: Path):
    """A JSON file's content, or None when it is missing or damaged (the report says what it lacks)."""
    try:
        return json.loads(regular(path).read_text())
    except (OSError, ValueError) as error:
        if path.exists():
            log.warning("%s: unreadable (%s); its part of the report is left out", path, error)
        return None


def _csv(path: Path, numbers: bool = True) -> list[dict]:
    """A CSV file's rows (numbers as floats), or [] when it is missing or damaged."""
    try:
        with regular(path).open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    if not numbers:
        return rows
    try:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in rows]
    except ValueError:
        log.warning("%s: not numeric; its part of the report is left out", path)
        return []


def finite(value):
    """`value` with NaN and infinities as None, recursively (summary.json is strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, np.generic):
        return finite(value.item())
    return value
