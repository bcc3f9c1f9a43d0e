"""The arms of an ablation, built from a recipe and its knobs' baselines.

- full: the recipe;
- leave one out: one bucket reset to its knobs' baselines, the others as the recipe has them;
- the cumulative path: from the all-baseline recipe, one bucket at a time in `order` (the last step is full);
- per knob (`knobs=BUCKET`): one knob of that bucket reset to its baseline;
- an interaction (a pair of buckets): both reset together, beside each reset alone.
Arms that train the same recipe are one run (a path's last step is the full recipe). A bucket whose
active knobs all equal their baselines has nothing to ablate and gets no arm.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AutorecipeError
from ..knobs import BUCKETS, bucket_knobs, is_active, lookup_knob, registry
from ..recipe import Recipe

ORDER = ("optimization", "regularization", "data", "architecture")
FULL, BASELINE = "full", "baseline"


@dataclass(frozen=True)
class Arm:
    """One recipe to train, with what it is in the ablation."""

    name: str  # "full", "without regularization", "baseline + optimization", "without label_smoothing", ...
    kind: str  # full | baseline | leave_one_out | path | knob | interaction
    recipe: Recipe
    reset: tuple[str, ...] = ()  # the buckets (or knobs) at their baselines


def changed_knobs(recipe: Recipe, bucket: str) -> dict[str, tuple]:
    """The knobs of `bucket` that matter in `recipe` and differ from their baselines: name -> (value, baseline)."""
    values = {name: recipe.get(name) for name in registry()}
    return {name: (values[name], k.baseline) for name, k in bucket_knobs(bucket).items()
            if values[name] != k.baseline and is_active(k, values)}


def reset(recipe: Recipe, names: tuple[str, ...]) -> Recipe:
    """`recipe` with each named bucket (or knob) at its baselines."""
    for name in names:
        if name in BUCKETS:
            recipe = recipe.switched_off(name)
        else:
            recipe = recipe.with_values({name: lookup_knob(name).baseline})
    return recipe


def plan_arms(recipe: Recipe, *, order: tuple[str, ...] = ORDER, knobs: str | None = None,
              interaction: tuple[str, str] | None = None) -> tuple[list[Arm], list[str]]:
    """(the arms, the buckets with nothing to ablate); the interaction arm only for a pair given (ablate
    chooses one from the measured effects otherwise)."""
    order = check_order(order)
    active = [bucket for bucket in order if changed_knobs(recipe, bucket)]
    idle = [bucket for bucket in order if bucket not in active]
    arms = [Arm(FULL, "full", recipe), Arm(BASELINE, "baseline", reset(recipe, tuple(active)), tuple(active))]
    arms += [Arm(f"without {bucket}", "leave_one_out", reset(recipe, (bucket,)), (bucket,)) for bucket in active]
    for step in range(1, len(active)):
        kept = active[:step]
        arms.append(Arm(BASELINE + "".join(f" + {b}" for b in kept), "path",
                        reset(recipe, tuple(active[step:])), tuple(active[step:])))
    if knobs is not None:
        if knobs not in BUCKETS:
            raise AutorecipeError(f"--knobs {knobs!r}: not a bucket; choose one of {', '.join(BUCKETS)}")
        arms += [Arm(f"without {name}", "knob", reset(recipe, (name,)), (name,))
                 for name in changed_knobs(recipe, knobs)]
    if interaction is not None:
        pair = check_pair(interaction, active)
        arms.append(Arm(f"without {pair[0]} and {pair[1]}", "interaction", reset(recipe, pair), pair))
    return arms, idle


def distinct(arms: list[Arm]) -> dict[str, str]:
    """Each arm's name -> the name of the first arm that trains the same recipe (the one run for both)."""
    first: list[Arm] = []
    runs = {}
    for arm in arms:
        same = next((other for other in first if other.recipe == arm.recipe), None)
        if same is None:
            first.append(arm)
        runs[arm.name] = (same or arm).name
    return runs


def check_order(order) -> tuple[str, ...]:
    """The buckets of a path order: every bucket once."""
    order = tuple(b.strip() for b in (order.split(",") if isinstance(order, str) else order))
    if sorted(order) != sorted(BUCKETS):
        raise AutorecipeError(f"--order {','.join(order)!r}: name each bucket once: {', '.join(BUCKETS)}")
    return order


def check_pair(pair, active: list[str]) -> tuple[str, str]:
    """Two different buckets, both with something to ablate."""
    pair = tuple(b.strip() for b in (pair.split(",") if isinstance(pair, str) else pair))
    if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(BUCKETS):
        raise AutorecipeError(f"--interaction {','.join(pair)!r}: give two different buckets, e.g. "
                              f"regularization,optimization")
    idle = [b for b in pair if b not in active]
    if idle:
        raise AutorecipeError(f"--interaction: {', '.join(idle)} has nothing to ablate (its knobs are at their "
                              f"baselines); choose among {', '.join(active)}")
    return pair

