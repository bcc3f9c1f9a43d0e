"""`ablate`: train every arm of a recipe's ablation with the same seeds (one fit a cell), resuming per cell,
and say what each bucket contributed, with intervals."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..data.balance import resolve_balance
from ..data.sources import label_counts
from ..errors import AutorecipeError
from ..files import write_atomic
from ..output_folder import default_folder
from ..recipe import Recipe
from ..resuming import RECORD, identity, plain
from .arms import BASELINE, FULL, ORDER, Arm, changed_knobs, check_order, check_pair, distinct, plan_arms, reset
from .cells import Cells, check_budget
from .effects import ArmScore, Effect, bucket_effects, correctness, effect, interaction_effect, path_effects, scores

SUMMARY = "summary.json"


@dataclass
class AblationResult:
    """The arms' scores and the effects, as written to summary.json."""

    path: Path
    scores: dict[str, ArmScore]
    buckets: list[Effect]
    steps: list[Effect]
    interaction: Effect | None
    total: Effect  # full - baseline: what the whole recipe adds
    idle: list[str] = field(default_factory=list)  # buckets with nothing to ablate

    def to_dict(self) -> dict:
        return {"arms": [s.to_dict() for s in self.scores.values()], "buckets": [e.to_dict() for e in self.buckets],
                "path": [e.to_dict() for e in self.steps],
                "interaction": self.interaction.to_dict() if self.interaction else None,
                "total": self.total.to_dict(),
                "nothing_to_ablate": self.idle}

    def verdicts(self) -> list[str]:
        """One plain-words line a bucket (and for the interaction)."""
        lines = [e.verdict() for e in self.buckets] + [f"{b}: nothing to ablate" for b in self.idle]
        if self.interaction is not None:
            lines.append(self.interaction.verdict())
        return lines


def source_recipe(source) -> Recipe:
    """The recipe to ablate: a run folder's (as its fit was asked, automatic values unresolved, from fit.json;
    else its recipe.yaml), a search folder's best_recipe.yaml, a recipe file, or a Recipe."""
    if isinstance(source, Recipe):
        return source
    path = Path(source)
    if (path / RECORD).is_file():
        try:
            return Recipe.from_dict(json.loads((path / RECORD).read_text())["arguments"]["recipe"])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged record: the recipe.yaml beside it
    for candidate in (path / "recipe.yaml", path / "best_recipe.yaml", path):
        if candidate.is_file():
            return Recipe.load(candidate)
    raise AutorecipeError(f"{source}: not a run folder (recipe.yaml), a search folder (best_recipe.yaml) or a "
                          f"recipe file")


def ablate(source, data, *, val=None, test=None, seeds: int = 3, budget: str | None = None,
           order=ORDER, knobs: str | None = None, interaction=None, out=None, resume: bool = False,
           device: str | None = None, val_fraction: float = 0.1, unlabeled=None,
           on_plan: Callable[[list[Arm], int, str], None] | None = None,
           on_cell: Callable[[dict, int, int], None] | None = None) -> AblationResult:
    """Ablate the recipe of `source` (see source_recipe) on `data` (any source fit takes), every arm with
    seeds 0..seeds-1 and `budget` a fit (the budget grammar: '10 epochs', '2m'). `knobs` adds per-knob arms
    inside one bucket; `interaction` (two buckets) defaults to the two with the largest effects. Writes to
    `out` the plan, one line a finished cell, a run folder a cell and summary.json; `resume` goes on."""
    recipe, order = source_recipe(source), check_order(order)
    if unlabeled is None and recipe.data.semi_supervised == "auto":  # what fit trains without unlabeled images
        recipe = recipe.with_values({"semi_supervised": "none"})
    if recipe.data.class_balance == "auto":  # as fit resolves it, on the classes' image counts
        recipe = recipe.with_values({"class_balance": resolve_balance(recipe.data, label_counts(data))})
    check_budget(budget, seeds)
    arms, idle = plan_arms(recipe, order=order, knobs=knobs, interaction=interaction)
    if not any(arm.kind == "leave_one_out" for arm in arms):
        raise AutorecipeError("every bucket's knobs are at their baselines: nothing to ablate")
    out = Path(out) if out is not None else default_folder("ablate")
    seed_list = list(range(seeds))
    plan = {"recipe": plain(recipe.to_dict()), "data": identity(data), "val": identity(val), "seeds": seeds,
            "budget": budget, "order": list(order), "knobs": knobs, "val_fraction": val_fraction,
            "unlabeled": identity(unlabeled)}
    cells = Cells(out, plan, resume, "ablation")
    fitting = {"val": val, "test": test, "budget": budget, "device": device, "val_fraction": val_fraction,
               "unlabeled": unlabeled}

    # The arms, then the interaction of the given pair or of the two buckets that mattered most
    cells.run(arms, arms, seed_list, data, fitting, on_plan, on_cell)
    runs, done = distinct(arms), cells.done
    buckets = bucket_effects(arms, runs, done, seed_list)
    pair = _pair(interaction, buckets, recipe)
    if pair is not None and not any(a.kind == "interaction" for a in arms):
        arms.append(Arm(f"without {pair[0]} and {pair[1]}", "interaction", reset(recipe, pair), pair))
        cells.run(arms, arms[-1:], seed_list, data, fitting, on_plan, on_cell)
        runs = distinct(arms)
    result = AblationResult(out, scores(arms, runs, done, seed_list), buckets,
                            path_effects(arms, runs, done, seed_list),
                            interaction_effect(pair, arms, runs, done, seed_list) if pair else None,
                            effect("full - baseline", correctness(FULL, runs, done, seed_list),
                                   correctness(BASELINE, runs, done, seed_list)), idle)
    write_atomic(out / SUMMARY, json.dumps(result.to_dict(), indent=1).encode())
    return result


def _pair(interaction, buckets: list[Effect], recipe: Recipe) -> tuple[str, str] | None:
    """The interaction to measure: the pair given, else the two buckets with the largest effects."""
    active = [b for b in ORDER if changed_knobs(recipe, b)]
    if interaction is not None:
        return check_pair(interaction, active)
    ranked = sorted((e for e in buckets if e.name in active), key=lambda e: -abs(e.bootstrap.mean))
    return (ranked[0].name, ranked[1].name) if len(ranked) > 1 else None

