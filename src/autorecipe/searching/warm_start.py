"""Warm start: the first trials of a new study are recipes known to be good.

In order: the best recipes of the most similar past datasets (the library), the user's
base recipe (the default recipe unless --recipe/--set change it), then a few known strong
recipes for the base recipe's architecture family.
"""

from __future__ import annotations

import optuna

from ..recipe import Recipe
from .attributes import OUTSIDE, WARM_START
from .space import SearchSpace

# Known strong variations of the default recipe, for every architecture family.
GENERAL: list[dict] = [
    # heavier regularization for small or noisy data: more smoothing and decay, dropout before the head
    {"label_smoothing": 0.2, "weight_decay": 1e-3, "dropout": 0.1},
    # cosine decay with a short warmup
    {"schedule": "cosine", "warmup": 0.1},
    # AdamW with decoupled decay (weight_decay_mode auto)
    {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 5e-2, "warmup": 0.1},
]
# ... and for some families (model-name prefix), their own published training style.
FAMILY: dict[str, list[dict]] = {
    # DeiT-style: AdamW, cosine, long warmup, mixup and cutmix, stochastic depth
    "vit": [{"optimizer": "adamw", "lr": 1e-3, "weight_decay": 5e-2, "schedule": "cosine", "warmup": 0.2,
             "mixup_alpha": 0.8, "cutmix_alpha": 1.0, "drop_path": 0.1}],
    "convnext": [{"optimizer": "adamw", "lr": 2e-3, "weight_decay": 5e-2, "schedule": "cosine", "warmup": 0.2,
                  "drop_path": 0.1}],
}


def strong_recipes(base: Recipe) -> list[Recipe]:
    """The known strong recipes for `base`'s architecture family, as variations of `base`."""
    model = base.architecture.model
    family = [changes for prefix, variants in FAMILY.items() if model.startswith(prefix) for changes in variants]
    return [base.with_values(changes) for changes in family + GENERAL]


def enqueue(study: optuna.Study, space: SearchSpace, recipes: list[Recipe]) -> int:
    """Queue `recipes` as the study's next trials (skipping repeats); returns how many were queued."""
    queued = 0
    seen: list[tuple[dict, dict]] = []
    for recipe in recipes:
        params, outside = space.params_of(recipe)
        if (params, outside) in seen:
            continue
        seen.append((params, outside))
        study.enqueue_trial(params, user_attrs={WARM_START: True, OUTSIDE: outside}, skip_if_exists=True)
        queued += 1
    return queued
