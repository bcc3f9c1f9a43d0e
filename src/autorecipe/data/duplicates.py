"""Duplicate images across sets: the same picture found by a digest of its decoded pixels.

Images decoded at the same size and colour handling compare exactly, whatever file, name or array they
came from; a re-encoded copy (another JPEG quality, a resize) is not an exact duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

CHUNK = 4096  # rows read at a time from a memory-mapped array


def pixel_digests(x: np.ndarray, rows: np.ndarray | None = None) -> list[bytes]:
    """A digest of each image's decoded pixels: rows `rows` (default all) of an (N, C, S, S) uint8 array."""
    rows = np.arange(len(x)) if rows is None else np.asarray(rows)
    digests = []
    for start in range(0, len(rows), CHUNK):
        block = np.ascontiguousarray(x[rows[start:start + CHUNK]])
        digests += [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in block]
    return digests


def found_in(digests: list[bytes], others: Iterable[list[bytes]]) -> np.ndarray:
    """Per digest, whether it is among the digests of any of `others` (True: a duplicate)."""
    seen = set().union(*map(set, others))
    return np.array([d in seen for d in digests], dtype=bool)


def digest_groups(digests: list[bytes]) -> list[np.ndarray]:
    """Positions that share a digest, a group each (groups of two or more, largest first)."""
    if not digests:
        return []
    _, inverse, counts = np.unique(np.array(digests, dtype="S16"), return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(order, np.cumsum(counts)[:-1])
    return sorted((g for g in groups if len(g) > 1), key=len, reverse=True)


def conflicting_groups(digests: list[bytes], labels: np.ndarray) -> list[np.ndarray]:
    """The groups of identical images (digest_groups) that carry more than one label."""
    return [g for g in digest_groups(digests) if len(np.unique(labels[g])) > 1]
