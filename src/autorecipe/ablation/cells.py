"""The cells of an ablation or a comparison: one fit an (arm, seed), run in its own run folder under `out`,
each finished cell one line of cells.jsonl, so that a killed verb resumes where it stopped."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..budget import parse_budget
from ..errors import AutorecipeError
from ..files import write_atomic
from ..fitting import fit
from ..output_folder import check_kind
from .arms import Arm, distinct

log = logging.getLogger("autorecipe")

PLAN, CELLS = "plan.json", "cells.jsonl"


class Cells:
    """The finished cells in `out` by (arm, seed), and the fits of the missing ones."""

    def __init__(self, out: Path, plan: dict, resume: bool, verb: str):
        self.out, self.verb = out, verb
        self.done = _open(out, plan, resume, verb)

    def run(self, arms: list[Arm], group: list[Arm], seeds: list[int], data, fit_arguments: dict,
            on_plan: Callable[[list[Arm], int, str], None] | None = None,
            on_cell: Callable[[dict, int, int], None] | None = None) -> None:
        """Fit the cells of `group` (arms of `arms` that share a recipe are one run) not finished yet."""
        runs = distinct(arms)
        todo = [(arm, seed) for arm in group if runs[arm.name] == arm.name for seed in seeds
                if (arm.name, seed) not in self.done]
        if on_plan is not None:
            on_plan(group, len(todo), _estimate(fit_arguments.get("budget"), len(todo)))
        for number, (arm, seed) in enumerate(todo, 1):
            cell = _run_cell(arm, seed, data, self.out, fit_arguments)
            self.done[arm.name, seed] = cell
            with (self.out / CELLS).open("a") as f:
                f.write(json.dumps(cell) + "\n")
            if on_cell is not None:
                on_cell(cell, number, len(todo))


def check_budget(budget: str | None, seeds: int) -> None:
    """A budget a fit takes (a time or epochs) and at least one seed."""
    if seeds < 1:
        raise AutorecipeError(f"--seeds {seeds}: give at least 1 (3 or more for intervals over seeds)")
    if budget is not None and parse_budget(budget).trials is not None:
        raise AutorecipeError(f"budget {budget!r}: each cell is a fit; give a time or epochs ('2m', '10 epochs')")


def _held(plan_file: Path, verb: str) -> str:
    """What a plan.json plans: a comparison (it varies knobs) or an ablation; `verb` where it cannot be read."""
    try:
        return "comparison" if "vary" in json.loads(plan_file.read_text()) else "ablation"
    except (OSError, ValueError, TypeError):
        return verb


def _open(out: Path, plan: dict, resume: bool, verb: str) -> dict[tuple[str, int], dict]:
    """Start `out` with the plan, or on resume check it is the same plan and read its finished cells."""
    saved = out / PLAN
    check_kind(out, "ablation or comparison")
    if saved.exists() and not resume:
        held = _held(saved, verb)
        way_on = ": --resume continues it; or" if held == verb else ";"
        raise AutorecipeError(f"--out {out} holds a{'n' if held[0] in 'aeiou' else ''} {held} already{way_on} give "
                              f"another --out")
    if resume and not saved.exists():
        raise AutorecipeError(f"--resume: {out} holds no {verb} ({PLAN})")
    if resume:
        before = json.loads(saved.read_text())
        changed = [key for key in plan if before.get(key) != plan[key]]
        if changed:
            raise AutorecipeError(f"--resume {out}: the {verb} there differs in {', '.join(changed)}; give the "
                                  f"same arguments, or another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(saved, json.dumps(plan, indent=1).encode())
    cells = {}
    if (out / CELLS).exists():
        for line in (out / CELLS).read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a kill mid-write leaves a partial last line: that cell runs again
                continue
            cells[row["arm"], row["seed"]] = row
        write_atomic(out / CELLS, "".join(json.dumps(row) + "\n" for row in cells.values()).encode())
    return cells


def _run_cell(arm: Arm, seed: int, data, out: Path, fit_arguments: dict) -> dict:
    """Fit one arm with one seed in its own run folder (a cell killed mid-fit resumes that fit) and keep its
    per-image correctness on the validation images."""
    folder = out / "runs" / arm.name.replace(" ", "_").replace("+", "plus").replace("/", "_") / f"seed{seed}"
    began = time.perf_counter()
    record = folder / "fit.json"
    resumable = record.exists() and json.loads(record.read_text()).get("status") in ("running", "interrupted")
    run = fit(data, recipe=arm.recipe, seed=seed, out=None if resumable else folder,
              resume=folder if resumable else None, progress=False, overwrite=True, **fit_arguments)
    if run.val_correct is None:
        raise AutorecipeError("arms are compared on validation images: give --val, or a --val-fraction above 0")
    log.info("cell %s seed %d: %.4f", arm.name, seed, run.metrics["val_accuracy"])
    return {"arm": arm.name, "seed": seed, "val_accuracy": run.metrics["val_accuracy"],
            "correct": "".join("1" if c else "0" for c in run.val_correct), "seconds": time.perf_counter() - began,
            "folder": str(folder)}


def _estimate(budget: str | None, fits: int) -> str:
    """The time the fits will take, when the budget says."""
    seconds = parse_budget(budget).seconds if budget is not None else None
    if seconds:
        return f"about {fits * seconds / 60:.0f} min ({fits} fits of {seconds:g} s)"
    return f"{fits} fits (the time per fit follows from the first)"
