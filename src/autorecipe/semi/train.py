"""Train with unlabeled images by the recipe's semi-supervised method, through the training wing."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..data.dataset import ImageData
from ..recipe import Recipe
from ..training.loop import TrainResult, train
from .methods import CONSISTENCY_METHODS
from .noisy_student import train_noisy_student
from .step import build_semi_step


@dataclass
class SemiResult:
    """The training result, the recipe its model was trained with (noisy student's last student's), and
    noisy student's rounds (per round: pseudo-labels kept, their accuracy where known)."""

    result: TrainResult
    recipe: Recipe
    rounds: list[dict] = field(default_factory=list)


def train_with_unlabeled(recipe: Recipe, train_data: ImageData, val_data: ImageData | None, unlabeled: ImageData,
                         *, device: torch.device, **train_kwargs) -> SemiResult:
    """Train `recipe` (its semi_supervised resolved: not auto) on the labelled and the unlabeled images
    (labelled -1, or with their true labels to score pseudo-labels)."""
    method = recipe.data.semi_supervised
    if method in CONSISTENCY_METHODS:
        step = build_semi_step(recipe, train_data, device)
        return SemiResult(train(recipe, train_data, val_data, device=device, unlabeled=unlabeled, objective=step,
                                **train_kwargs), recipe)
    if method == "noisy_student":
        result, student, rounds = train_noisy_student(recipe, train_data, val_data, unlabeled, device=device,
                                                      **train_kwargs)
        return SemiResult(result, student, rounds)
    return SemiResult(train(recipe, train_data, val_data, device=device, **train_kwargs), recipe)
