"""The data of one fit: training, validation and test images at one size, with a seeded stratified split."""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import AutorecipeError
from ..recipe import Recipe
from .dataset import ImageData, check_trainable, load_data

log = logging.getLogger("autorecipe")


def check_fraction(fraction: float) -> None:
    """A validation fraction must lie strictly between 0 and 1."""
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
        raise AutorecipeError(f"validation fraction must be between 0 and 1, got {fraction!r}")


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and validation examples, `fraction` of each class to validation.

    Every class with at least two examples puts at least one in each part.
    """
    check_fraction(fraction)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(fraction * len(members)))
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        else:
            n_val = 0
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


@dataclass
class Splits:
    """The loaded data of one fit, and the recipe with its automatic data knobs resolved."""

    recipe: Recipe
    train: ImageData
    val: ImageData | None  # None: no validation (val_fraction 0)
    test: ImageData | None
    skipped: int
    decode_seconds: float


def load_splits(data, val, test, recipe: Recipe, val_fraction: float, seed: int, on_data, on_progress) -> Splits:
    """Load train/val/test at one resolved size and colour mode."""
    source = load_data(data, recipe.data.image_size, recipe.data.channels, on_progress=on_progress)
    check_trainable(source)
    _log_skipped("training", source)
    recipe = recipe.with_values({"image_size": source.image_size,
                                 "channels": "gray" if source.channels == 1 else "rgb"})
    loaded = [source]
    if val is None and val_fraction == 0:
        train_data, val_data = source, None
    elif val is None:
        train_index, val_index = stratified_split(source.y, val_fraction, seed)
        train_data, val_data = source.subset(train_index), source.subset(val_index)
    else:
        train_data = source
        val_data = _load_aligned("validation", val, recipe, source.classes, on_progress)
        loaded.append(val_data)
    check_trainable(train_data)
    test_data = _load_aligned("test", test, recipe, source.classes, on_progress) if test is not None else None
    if test_data is not None:
        loaded.append(test_data)
    for role, images in (("train", train_data), ("validation", val_data), ("test", test_data)):
        if images is not None and on_data:
            on_data(role, images)
    log.info("data: %d training, %d validation%s images; %d classes; %dx%d %s",
             len(train_data), len(val_data) if val_data else 0, f", {len(test_data)} test" if test_data else "",
             len(source.classes), source.image_size, source.image_size, recipe.data.channels)
    return Splits(recipe, train_data, val_data, test_data, sum(len(d.skipped) for d in loaded),
                   sum(d.decode_seconds for d in loaded))


def _load_aligned(role: str, spec, recipe: Recipe, classes: list[str], on_progress) -> ImageData:
    images = load_data(spec, recipe.data.image_size, recipe.data.channels, on_progress=on_progress)
    images = images.with_classes(classes)
    _log_skipped(role, images)
    if len(images) == 0:
        raise AutorecipeError(f"{images.description}: the {role} data has no readable images")
    return images


def _log_skipped(role: str, images: ImageData) -> None:
    if images.skipped:
        log.warning("%d unreadable %s file(s) skipped:", len(images.skipped), role)
        for path, reason in images.skipped:
            log.warning("  skipped %s: %s", path, reason)
