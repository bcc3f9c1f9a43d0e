"""Warm start: the first trials of a new study are recipes known to be good.

In order: the user's base recipe (the default recipe unless --recipe/--set change it: the
never-worse rule's reference, so always the first trial), the best recipes of the most similar
past datasets (the library), then a portfolio of known strong variations of the base for its
architecture family. The list is planned once and kept in the study (`plan`); `queue_next`
releases it one trial at a time, so that nothing is left waiting in Optuna's queue when the
search's budget ends and the confirmation reruns (adoption.py) run next.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
import torch

from ..errors import AutorecipeError
from ..optimization.precision import resolve_precision
from ..optimization.schedule import MIN_BATCH, batch_size
from ..recipe import Recipe
from ..training.setup import resolve_lr
from .attributes import BASELINE, OUTSIDE, WARM_PLAN, WARM_START
from .resume import is_not_run
from .space import SearchSpace

# Known strong variations of the default recipe, for every architecture family, most often useful first.
GENERAL: list[dict] = [
    # no augmentation: short runs on small data often fit better without flips and shifts
    {"hflip": False, "translate": 0.0},
    # heavier regularization for small or noisy data: more smoothing and decay, dropout before the head
    {"label_smoothing": 0.2, "weight_decay": 1e-3, "dropout": 0.1},
    # the one-cycle schedule
    {"schedule": "onecycle"},
    # AdamW with decoupled decay (weight_decay_mode auto)
    {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 5e-2, "warmup": 0.1},
]
LR_STEPS = (2.0, 0.5)  # the base recipe's (resolved) lr times these
# Half the base recipe's (resolved) batch: twice the steps in the same epochs, which short runs on small data
# often need; tried when the half is still at least the automatic batch's floor.
# ... and for some families (model-name prefix), their own published training style.
FAMILY: dict[str, list[dict]] = {
    # DeiT-style: AdamW, cosine, long warmup, mixup and cutmix, stochastic depth
    "vit": [{"optimizer": "adamw", "lr": 1e-3, "weight_decay": 5e-2, "schedule": "cosine", "warmup": 0.2,
             "mixup_alpha": 0.8, "cutmix_alpha": 1.0, "drop_path": 0.1}],
    "convnext": [{"optimizer": "adamw", "lr": 2e-3, "weight_decay": 5e-2, "schedule": "cosine", "warmup": 0.2,
                  "drop_path": 0.1}],
}


def strong_recipes(base: Recipe, num_train: int | None = None) -> list[Recipe]:
    """The known strong recipes for `base`'s architecture family, as variations of `base` (and, given the
    number of training images, of its batch)."""
    model = base.architecture.model
    family = [changes for prefix, variants in FAMILY.items() if model.startswith(prefix) for changes in variants]
    lr = resolve_lr(base).optimization.lr
    steps = [{"lr": lr * factor} for factor in LR_STEPS]
    half = batch_size(base.optimization, num_train) // 2 if num_train else 0
    smaller = [{"batch_size": half}] if half >= MIN_BATCH else []
    return [base.with_values(changes) for changes in family + GENERAL[:1] + smaller + steps + GENERAL[1:]]


def trained_as(recipe: Recipe, device: torch.device, num_train: int) -> Recipe:
    """`recipe` as it trains on `device` with `num_train` training images: its automatic lr, batch and
    precision resolved (two recipes that differ only there train the same model)."""
    recipe = resolve_lr(recipe)
    opt = recipe.optimization
    try:
        precision = resolve_precision(opt, device)
    except AutorecipeError:  # a precision the device lacks: the trial fails and says so
        precision = opt.precision
    return recipe.with_values({"batch_size": batch_size(opt, num_train), "precision": precision})


def what_trains(space: SearchSpace, base: Recipe, device: torch.device, num_train: int) -> Callable[[Recipe], Recipe]:
    """A recipe -> what a trial of it trains in `space` from `base` (trained_as), to tell repeats."""
    return lambda recipe: trained_as(space.within(recipe, base), device, num_train)


def plan(study: optuna.Study, space: SearchSpace, base: Recipe, recipes: list[Recipe],
         same: Callable[[Recipe], Recipe]) -> int:
    """Plan `base` (marked as the baseline), then `recipes`, as the study's first trials, skipping repeats: a
    recipe whose `same` (what it trains, see what_trains) is an earlier one's; returns how many were planned."""
    planned: list[dict] = []
    seen: list[Recipe] = []
    for recipe in [base, *recipes]:
        trains = same(recipe)
        if trains in seen:
            continue
        seen.append(trains)
        params, outside = space.params_of(recipe)
        planned.append({"params": params, "outside": outside, "baseline": recipe is base})
    study.set_user_attr(WARM_PLAN, planned)
    return len(planned)


def queue_next(study: optuna.Study) -> bool:
    """Queue the next planned recipe that no trial has run, unless a trial is already waiting; returns whether
    it queued one."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state == optuna.trial.TrialState.WAITING for t in trials):
        return False
    started = {t.user_attrs.get(WARM_START) for t in trials if not is_not_run(t)}
    for index, entry in enumerate(study.user_attrs.get(WARM_PLAN, [])):
        if index not in started:
            marks = {BASELINE: True} if entry["baseline"] else {}
            study.enqueue_trial(entry["params"], user_attrs={WARM_START: index, OUTSIDE: entry["outside"], **marks})
            return True
    return False
