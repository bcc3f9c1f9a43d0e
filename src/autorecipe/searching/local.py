"""Local search: trials that change a few knobs of the best recipe so far.

With a budget of a few dozen trials, TPE over every knob of the four buckets is still exploring
when the budget ends: its trials land far from the warm-start recipes and lose to them. So,
once the warm-start recipes have run, every other trial takes the best recipe so far (the
incumbent) and changes one to MAX_CHANGES of its searched knobs by a small step (a choice
knob to another option, a technique that can be off switched the other way, a number moved
by a fifth of its (log-)range at most), keeping the rest: small steps that can improve on a
strong starting recipe. The other trials stay TPE's, which models all of them.

A local step is not pruned by Hyperband, whose early rungs keep a third of the trials: a small
change scores within noise of the incumbent after a few epochs and would be cut at random. It
stops early only when it falls behind the incumbent's learning curve by more than the noise of
two accuracies measured on the validation images (`keeps_up`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from ..knobs import Choice, IntRange, Space, is_active, registry
from ..optimization.optimizers import resolve_lr
from ..recipe import Recipe
from .results import best_trial
from .space import OUTSIDE, SearchSpace

LOCAL = "local"  # trial user attribute: a step from the incumbent
MAX_CHANGES = 3
STEP = 0.2  # the largest move of a number knob, as a fraction of its (log-)range


def propose(study: optuna.Study, space: SearchSpace, base: Recipe, seed: int) -> bool:
    """Queue a step from the incumbent when it is local search's turn; returns whether it queued one."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):  # warm-start recipes (or reruns) go first
        return False
    searched = [t for t in trials if not t.user_attrs.get("warm_start")]
    incumbent = best_trial(study)
    if incumbent is None or incumbent.state != TrialState.COMPLETE or len(searched) % 2:
        return False
    rng = np.random.default_rng([seed, len(trials)])
    params, outside = space.params_of(step(space.recipe_of(incumbent, base), space, rng))
    study.enqueue_trial(params, user_attrs={LOCAL: True, OUTSIDE: outside})
    return True


def step(recipe: Recipe, space: SearchSpace, rng: np.random.Generator) -> Recipe:
    """`recipe` with one to MAX_CHANGES of its active searched knobs moved a small step.

    An automatic lr (0) moves from the value it stands for; when the optimizer changes too, it
    stays automatic (the new optimizer's own value)."""
    values = {name: recipe.get(name) for name in registry()}
    active = [name for name in space.ranges if is_active(registry()[name], values)]
    count = min(len(active), int(rng.integers(1, MAX_CHANGES + 1)))
    chosen = [active[i] for i in rng.choice(len(active), size=count, replace=False)]
    values["lr"] = resolve_lr(recipe).optimization.lr
    if "optimizer" in chosen and "lr" in chosen and not recipe.optimization.lr:
        chosen.remove("lr")
    return recipe.with_values({name: moved(space.ranges[name], values[name], rng) for name in chosen})


def moved(space: Space, value: Any, rng: np.random.Generator) -> Any:
    """A value of `space` near `value` and different from it where the range allows."""
    if isinstance(space, Choice):
        others = [option for option in space.options if option != value] or list(space.options)
        return others[int(rng.integers(len(others)))]
    if space.off is not None and (value == space.off or rng.random() < 1 / 3):  # switch it on or off
        return _draw(space, rng) if value == space.off else space.off
    if not space.low <= value <= space.high:  # e.g. an automatic value (0): anywhere in the range
        return _draw(space, rng)
    low, high, at = _scale(space, space.low), _scale(space, space.high), _scale(space, value)
    x = min(max(at + rng.uniform(-STEP, STEP) * (high - low), low), high)
    new = math.exp(x) if space.log else x
    if isinstance(space, IntRange):
        new = min(max(round(new), space.low), space.high)
        if new == value:
            new = value + 1 if value < space.high else value - 1
    return new


def _draw(space: Space, rng: np.random.Generator) -> Any:
    """A value anywhere in a number range (log-uniformly for a log range)."""
    x = rng.uniform(_scale(space, space.low), _scale(space, space.high))
    new = math.exp(x) if space.log else x
    return int(round(new)) if isinstance(space, IntRange) else new


def _scale(space: Space, value: float) -> float:
    return math.log(value) if space.log else value


def keeps_up(score: float, incumbent: dict[int, float], epoch: int, images: int) -> bool:
    """Whether a local step's validation accuracy at `epoch` is within noise of the incumbent's at
    the same epoch: at most two standard errors of the difference of two accuracies on `images`."""
    reference = incumbent.get(epoch)
    if reference is None or images <= 0:
        return True
    noise = math.sqrt(2 * reference * (1 - reference) / images)
    return score >= reference - 2 * noise
