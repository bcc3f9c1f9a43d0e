"""Local search: trials that change a few knobs of the best recipe so far.

With a budget of a few dozen trials, TPE over every knob of the four buckets is still exploring
when the budget ends: its trials land far from the warm-start recipes and lose to them. So,
once the warm-start recipes have run, every trial up to the study's TPE_FROM-th, and every
other trial after it, takes the best recipe so far (the incumbent) and changes one to
MAX_CHANGES of its searched knobs by a small step (a choice knob to another option, a
technique that can be off switched the other way, a number moved by a fifth of its (log-)range
at most), keeping the rest: small steps that can improve on a strong starting recipe. The other
trials are TPE's, which models all of them; before TPE_FROM trials its model of ~60 knobs is
no better than chance (benchmarks/RESULTS.md: TPE's first trials scored like random search's,
10-33% against the default's 52%, and one at 38 px spent 426 s on an epoch).

A local step is not pruned by Hyperband but by the local-step rule (pruning.LocalStepPruner).
Each search range knows its own small step (`SearchRange.moved`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import optuna
from optuna.trial import TrialState

from ..knobs import is_active, registry
from ..recipe import Recipe
from ..training.setup import resolve_lr
from .attributes import LOCAL, OUTSIDE, WARM_START
from .results import best_trial
from .space import SearchSpace

MAX_CHANGES = 3
TPE_FROM = 20  # trials in the study before TPE gets every other trial
DRAWS = 20  # steps drawn at most for one that no trial has run (or queued) yet


def propose(study: optuna.Study, space: SearchSpace, base: Recipe, seed: int,
            same: Callable[[Recipe], Recipe]) -> bool:
    """Queue a step from the incumbent that trains what no trial has trained or is queued to (by `same`, see
    warm_start.what_trains) when it is local search's turn; returns whether it queued one. `seed` is this
    worker's stream: two workers must not draw the same steps."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):  # warm-start recipes (or reruns) go first
        return False
    searched = [t for t in trials if WARM_START not in t.user_attrs]
    incumbent = best_trial(study)
    if incumbent is None or incumbent.state != TrialState.COMPLETE or (len(searched) % 2 and len(trials) >= TPE_FROM):
        return False
    rng = np.random.default_rng([seed, len(trials)])
    tried = [same(space.recipe_of(t, base, queued=True)) for t in trials]
    start = space.recipe_of(incumbent, base)
    for _ in range(DRAWS):
        stepped = step(start, space, rng)
        if same(stepped) not in tried:
            params, outside = space.params_of(stepped)
            study.enqueue_trial(params, user_attrs={LOCAL: True, OUTSIDE: outside})
            return True
    return False


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
    return recipe.with_values({name: space.ranges[name].moved(values[name], rng) for name in chosen})

