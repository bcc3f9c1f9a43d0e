"""`compare`: a systematic table of variants, one knob at a time (the "systematic evaluation of CNN modules"
style): the recipe with each value of each varied knob, every cell over paired seeds, with its interval and
its paired difference from the recipe's own value."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import AutorecipeError
from ..files import write_atomic
from ..knobs import lookup_knob
from ..output_folder import default_folder
from ..recipe import Recipe, parse_value
from ..resuming import identity, plain
from .ablate import source_recipe
from .arms import FULL, Arm, distinct
from .cells import Cells, check_budget
from .effects import ArmScore, Effect, correctness, effect, scores

SUMMARY = "summary.json"


@dataclass
class Variant:
    """One value of a varied knob: its scores, and its difference from the recipe's value (None for that one)."""

    knob: str
    value: object
    score: ArmScore
    difference: Effect | None

    def to_dict(self) -> dict:
        return {"knob": self.knob, "value": self.value, **self.score.to_dict(),
                "difference": self.difference.to_dict() if self.difference else None}


@dataclass
class ComparisonResult:
    """The variants of every varied knob, in the order given."""

    path: Path
    variants: list[Variant]

    def to_dict(self) -> dict:
        return {"variants": [v.to_dict() for v in self.variants]}


def parse_vary(vary: Iterable[str] | Mapping[str, Iterable]) -> dict[str, list]:
    """{knob: values} from 'knob=a,b,c' strings (values read as YAML scalars) or a mapping; every knob known."""
    if isinstance(vary, Mapping):
        pairs = {name: list(values) for name, values in vary.items()}
    else:
        pairs = {}
        for text in vary:
            name, sep, raw = text.partition("=")
            if not sep or not raw.strip():
                raise AutorecipeError(f"--vary {text!r}: expected knob=value,value, e.g. activation=relu,gelu")
            pairs[name.strip()] = [parse_value(v) for v in raw.split(",")]
    if not pairs:
        raise AutorecipeError("compare needs at least one --vary knob=value,value")
    for name in pairs:
        lookup_knob(name)  # an unknown knob: an error with a suggestion
    return pairs


def variant_arms(recipe: Recipe, vary: dict[str, list]) -> list[Arm]:
    """The recipe (the reference), then for each knob each of its values (the recipe's own is the reference)."""
    arms = [Arm(FULL, "full", recipe)]
    for name, values in vary.items():
        for value in values:
            arms.append(Arm(f"{name}={value}", "variant", recipe.with_values({name: value}), (name,)))
    return arms


def compare(source, data, *, vary, seeds: int = 3, budget: str | None = None, out=None, resume: bool = False,
            val=None, test=None, device: str | None = None, val_fraction: float = 0.1, unlabeled=None,
            on_plan: Callable[[list[Arm], int, str], None] | None = None,
            on_cell: Callable[[dict, int, int], None] | None = None) -> ComparisonResult:
    """Train the recipe of `source` with every value of every knob of `vary` ({knob: values}, or
    'knob=a,b,c' strings), each with seeds 0..seeds-1 and `budget` a fit; the table in summary.json."""
    recipe, vary = source_recipe(source), parse_vary(vary)
    check_budget(budget, seeds)
    arms = variant_arms(recipe, vary)
    out = Path(out) if out is not None else default_folder("compare")
    seed_list = list(range(seeds))
    plan = {"recipe": plain(recipe.to_dict()), "vary": plain(vary), "data": identity(data), "val": identity(val),
            "seeds": seeds, "budget": budget, "val_fraction": val_fraction, "unlabeled": identity(unlabeled)}
    cells = Cells(out, plan, resume, "comparison")
    cells.run(arms, arms, seed_list, data, {"val": val, "test": test, "budget": budget, "device": device,
                                            "val_fraction": val_fraction, "unlabeled": unlabeled}, on_plan, on_cell)
    runs = distinct(arms)
    scored = scores(arms, runs, cells.done, seed_list)
    reference = correctness(FULL, runs, cells.done, seed_list)
    variants = []
    for arm in arms[1:]:
        name = arm.reset[0]
        value = arm.recipe.get(name)
        same = runs[arm.name] == FULL  # the recipe's own value
        difference = None if same else effect(arm.name, correctness(arm.name, runs, cells.done, seed_list),
                                               reference)
        variants.append(Variant(name, value, scored[arm.name], difference))
    result = ComparisonResult(out, variants)
    write_atomic(out / SUMMARY, json.dumps(plain(result.to_dict()), indent=1).encode())
    return result
