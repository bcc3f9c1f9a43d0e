"""Checks of the data that need no training: identical images under two labels, and images shared by the
training, validation and test sets (at fit, each a warning: a conflicting label or a leak changes what the
scores mean); near-duplicates within and across the sets, listed pair by pair (diagnose).
"""

from __future__ import annotations

import logging
import warnings
from itertools import combinations

import numpy as np

from ..errors import AutorecipeWarning
from .dataset import ImageData
from .duplicates import MIN_NEAR_SIZE, NEAR_DISTANCE, conflicting_groups, digest_groups, found_in, near_pairs, perceptual_hashes, pixel_digests

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


def duplicate_pairs(sets: dict[str, ImageData], max_distance: int = NEAR_DISTANCE) -> list[dict]:
    """Every pair of exact or near-duplicate images within and across `sets` (role: data), closest first:
    kind (exact: identical pixels; near: perceptual hashes within `max_distance` bits), the distance, and
    each image's set, name (its path as given) and label; `conflict` when the labels differ. Images under
    MIN_NEAR_SIZE pixels are compared exactly only."""
    roles = list(sets)
    digests = sum((pixel_digests(d.x, d.rows) for d in sets.values()), [])
    owner = np.concatenate([np.full(len(d), k) for k, d in enumerate(sets.values())])
    position = np.concatenate([np.arange(len(d)) for d in sets.values()])
    if next(iter(sets.values())).image_size >= MIN_NEAR_SIZE:
        hashes = np.concatenate([perceptual_hashes(d.x, d.rows) for d in sets.values()])
        first, second, distance = near_pairs(hashes, max_distance)
    else:
        log.info("images of %d px: too small for perceptual hashes; exact duplicates only",
                 next(iter(sets.values())).image_size)
        first, second = _exact_pairs(digests)
        distance = np.zeros(len(first), np.int64)
    rows = []
    for i, j, bits in zip(first.tolist(), second.tolist(), distance.tolist()):
        a, b = sets[roles[owner[i]]], sets[roles[owner[j]]]
        label_a, label_b = a.classes[a.y[position[i]]], b.classes[b.y[position[j]]]
        rows.append({"kind": "exact" if digests[i] == digests[j] else "near", "distance": bits,
                     "set_a": roles[owner[i]], "image_a": a.names([position[i]])[0], "label_a": label_a,
                     "set_b": roles[owner[j]], "image_b": b.names([position[j]])[0], "label_b": label_b,
                     "conflict": label_a != label_b})
    rows.sort(key=lambda r: (r["kind"] != "exact", r["distance"]))
    return rows


def _exact_pairs(digests: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of identical digests."""
    pairs = [pair for group in digest_groups(digests) for pair in combinations(np.sort(group).tolist(), 2)]
    return np.array([a for a, _ in pairs], np.int64), np.array([b for _, b in pairs], np.int64)
