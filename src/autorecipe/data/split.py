"""Seeded, stratified train/validation split."""

from __future__ import annotations

import numpy as np

from ..errors import AutorecipeError


def check_fraction(fraction: float) -> None:
    """A validation fraction must lie strictly between 0 and 1."""
    if not 0 < fraction < 1:
        raise AutorecipeError(f"validation fraction must be between 0 and 1, got {fraction}")


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
