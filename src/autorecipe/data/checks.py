"""Checks of a fit's data that need no training: identical images under two labels, and images shared by the
training, validation and test sets (each a warning: a conflicting label or a leak changes what the scores mean).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from ..errors import AutorecipeWarning
from .dataset import ImageData
from .duplicates import conflicting_groups, found_in, pixel_digests

log = logging.getLogger("autorecipe")

EXAMPLES = 3  # cases named in a warning


def warn_about_duplicates(train: ImageData, val: ImageData | None, test: ImageData | None) -> dict[str, int]:
    """Warn about identical images under different labels in the training set and about validation or test
    images that are also training images; returns the counts (conflicting groups, shared images by set)."""
    digests = pixel_digests(train.x, train.rows)
    found = {}
    conflicts = conflicting_groups(digests, train.y)
    found["conflicting_groups"] = len(conflicts)
    if conflicts:
        cases = "; ".join(_labelled_pair(train, g) for g in conflicts[:EXAMPLES])
        _warn(f"{sum(map(len, conflicts))} training images are identical copies under different labels "
              f"({len(conflicts)} group(s) of identical images), e.g. {cases}; correct or remove the wrong labels")
    for role, part in (("validation", val), ("test", test)):
        if part is None:
            continue
        shared = found_in(pixel_digests(part.x, part.rows), [digests])
        found[f"{role}_in_training"] = int(shared.sum())
        if shared.any():
            names = ", ".join(part.names(np.flatnonzero(shared)[:EXAMPLES]))
            _warn(f"{int(shared.sum())} of the {len(part)} {role} images are also training images (identical "
                  f"pixels), e.g. {names}: the {role} accuracy is optimistic; remove them from one of the sets")
    return found


def _labelled_pair(data: ImageData, group: np.ndarray) -> str:
    """Two images of an identical group under two labels, in words."""
    first = [group[data.y[group] == label][0] for label in np.unique(data.y[group])[:2]]
    return " and ".join(f"{name} as {data.classes[data.y[p]]!r}" for name, p in zip(data.names(first), first))


def _warn(text: str) -> None:
    log.warning("%s", text)
    warnings.warn(text, AutorecipeWarning, stacklevel=4)
