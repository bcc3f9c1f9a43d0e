"""The fits diagnose trains, in memory with the recipe fit would train: one per fold of the training images
(its out-of-fold probabilities feed the label checker) and one per learning-curve share of them; the fold
fits, which train on 1 - 1/folds of the images, are the curve's point at that share."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from ..budget import Budget
from ..data.dataset import ImageData
from ..errors import AutorecipeError
from ..recipe import Recipe
from ..run import Run, logits_of
from ..training.loop import TrainResult, train

log = logging.getLogger("autorecipe")


@dataclass(frozen=True)
class PlannedFit:
    """One fit: its name, the positions of the training images it trains on, and its time and epochs."""

    name: str
    positions: np.ndarray
    share: float
    seconds: float | None
    epochs: int
    held_out: np.ndarray | None = None  # a fold fit: the training images it predicts


@dataclass
class FitOutcome:
    """What a fit left: the validation images it classified right, its history and, for a fold, the
    probabilities it gave the held-out training images."""

    fit: PlannedFit
    val_correct: np.ndarray | None
    history: list[dict]
    seconds: float
    probabilities: np.ndarray | None = None


def nested_shares(labels: np.ndarray, shares: list[float], seed: int) -> list[np.ndarray]:
    """Positions of stratified, nested subsets holding each share of every class (at least one image a class)."""
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    return [np.sort(np.concatenate([o[:max(1, int(round(s * len(o))))] for o in orders])) for s in shares]


def plan_fits(labels: np.ndarray, folds: int, shares: list[float], limits: Budget, epochs: int,
              seed: int) -> list[PlannedFit]:
    """The fold fits, then one fit per learning-curve share the folds do not give; the time budget is split
    in proportion to the images each trains on (so every fit runs about as many epochs), an epochs budget
    evenly."""
    smallest = int(np.bincount(labels).min())
    if folds < 2 or folds > smallest:
        raise AutorecipeError(f"--folds {folds}: give at least 2 and at most the images of the smallest class "
                              f"({smallest})")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % 2**32)
    planned = [(f"fold {k + 1}/{folds}", np.sort(kept), 1 - 1 / folds, np.sort(held))
               for k, (kept, held) in enumerate(splitter.split(np.zeros(len(labels)), labels))]
    own = [s for s in shares if not np.isclose(s, 1 - 1 / folds)]
    planned += [(f"{100 * s:.0f}% of the images", p, s, None) for s, p in zip(own, nested_shares(labels, own, seed))]
    total = sum(share for _, _, share, _ in planned)
    each = max(1, limits.epochs // len(planned)) if limits.epochs else epochs
    return [PlannedFit(name, positions, share, limits.seconds * share / total if limits.seconds else None, each,
                       held) for name, positions, share, held in planned]


def run_fit(fit: PlannedFit, recipe: Recipe, train_data: ImageData, val_data: ImageData | None,
            device: torch.device, seed: int) -> FitOutcome:
    """Train one planned fit and keep what diagnose reads from it."""
    recipe = recipe.with_values({"epochs": fit.epochs})
    result: TrainResult = train(recipe, train_data.subset(fit.positions), val_data, device=device, seed=seed,
                                time_budget=fit.seconds)
    if result.best_epoch is None:
        raise AutorecipeError(f"diagnose: the fit on {fit.name} {result.status} before its first epoch ended; "
                              f"give a larger --budget")
    probabilities = None
    if fit.held_out is not None:
        run = Run(result.model, recipe, train_data.classes, result.history, {})
        logits, _ = logits_of(run, train_data.subset(fit.held_out), device=str(device))
        probabilities = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1).numpy()
    log.info("diagnose fit %s: %d images, %d epochs, %.1f s", fit.name, len(fit.positions), len(result.history),
             result.seconds)
    return FitOutcome(fit, result.val_correct, result.history, result.seconds, probabilities)


def out_of_fold(outcomes: list[FitOutcome], count: int, classes: int) -> np.ndarray:
    """Every training image's probabilities from the fold fit that did not train on it, (N, K)."""
    probabilities = np.zeros((count, classes))
    for outcome in outcomes:
        if outcome.fit.held_out is not None:
            probabilities[outcome.fit.held_out] = outcome.probabilities
    return probabilities


def curve_points(outcomes: list[FitOutcome]) -> tuple[list[int], list[np.ndarray]]:
    """The learning curve's sizes and, at each, the validation images' correctness (a share over the fold
    fits at the folds' size)."""
    by_share: dict[float, list[FitOutcome]] = {}
    for outcome in outcomes:
        by_share.setdefault(round(outcome.fit.share, 9), []).append(outcome)
    sizes, correct = [], []
    for share in sorted(by_share):
        group = by_share[share]
        sizes.append(int(round(np.mean([len(o.fit.positions) for o in group]))))
        correct.append(np.mean([o.val_correct.astype(np.float64) for o in group], axis=0))
    return sizes, correct


def run_all(planned: list[PlannedFit], recipe: Recipe, train_data: ImageData, val_data: ImageData | None,
            device: torch.device, seed: int,
            on_fit: Callable[[FitOutcome, int, int], None] | None = None) -> list[FitOutcome]:
    """Train every planned fit in turn."""
    outcomes = []
    for number, fit in enumerate(planned, 1):
        outcomes.append(run_fit(fit, recipe, train_data, val_data, device, seed))
        if on_fit is not None:
            on_fit(outcomes[-1], number, len(planned))
    return outcomes
