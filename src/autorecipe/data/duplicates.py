"""Duplicate images within and across sets: the one module that finds them (fit's checks, the unlabeled
images' exclusion, diagnose).

Exact: a digest of the decoded pixels; images decoded at the same size and colour handling compare
exactly, whatever file, name or array they came from. Near: a perceptual hash (imagehash's DCT hash, 64
bits), so that a resized or re-encoded copy (another JPEG quality, a slight crop or colour change) is
found too; hashes are compared by splitting them into BANDS bands: two hashes within MAX_DISTANCE bits
share at least one band exactly (pigeonhole), so only images sharing a band are compared, never all pairs.
Images under MIN_NEAR_SIZE pixels hold too little for a perceptual hash to tell distinct pictures apart
(distinct 8 px digits hash within a few bits): there, only exact duplicates are sought.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import imagehash
import numpy as np
from PIL import Image

CHUNK = 4096  # rows read at a time from a memory-mapped array
NEAR_DISTANCE = 6  # bits of 64 within which two perceptual hashes are near-duplicates (the default)
BANDS = 8  # the hash split into 8 bands of 8 bits: every pair within 7 bits shares one band
MAX_DISTANCE = BANDS - 1
MIN_NEAR_SIZE = 16  # smaller images: exact duplicates only
BLOCK = 2048  # rows of a band bucket compared at a time (bounds memory on a bucket of many alike images)


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


def perceptual_hashes(x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """The 64-bit DCT hash (imagehash.phash) of each image: rows `rows` (default all) of an (N, C, S, S) uint8
    array, as uint64."""
    rows = np.arange(len(x)) if rows is None else np.asarray(rows)
    hashes = np.empty(len(rows), dtype=np.uint64)
    for start in range(0, len(rows), CHUNK):
        block = np.ascontiguousarray(x[rows[start:start + CHUNK]])
        for i, image in enumerate(block):
            picture = Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
            bits = imagehash.phash(picture).hash.reshape(-1)
            hashes[start + i] = np.packbits(bits).view(">u8")[0]
    return hashes


def near_pairs(hashes: np.ndarray, max_distance: int = NEAR_DISTANCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i < j) of `hashes` within `max_distance` bits: (i, j, distance), sorted by distance then i."""
    if not 0 <= max_distance <= MAX_DISTANCE:
        raise ValueError(f"max_distance must be between 0 and {MAX_DISTANCE} bits, got {max_distance}")
    hashes = np.asarray(hashes, dtype=np.uint64)
    found = []
    for band in range(BANDS):
        keys = (hashes >> np.uint64(8 * band)) & np.uint64(0xFF)
        order = np.argsort(keys, kind="stable")
        starts = np.flatnonzero(np.r_[True, keys[order][1:] != keys[order][:-1]])
        for members in np.split(order, starts[1:]):
            if len(members) > 1:
                found.append(_close_pairs(hashes, np.sort(members), max_distance))
    if not found:
        return (np.zeros(0, np.int64),) * 3
    pairs = np.unique(np.concatenate(found), axis=0)
    pairs = pairs[np.lexsort((pairs[:, 0], pairs[:, 2]))]
    return pairs[:, 0], pairs[:, 1], pairs[:, 2]


def _close_pairs(hashes: np.ndarray, members: np.ndarray, max_distance: int) -> np.ndarray:
    """The pairs among `members` (sorted positions) within `max_distance` bits, as rows (i, j, distance)."""
    rows = []
    for start in range(0, len(members), BLOCK):
        left = members[start:start + BLOCK]
        right = members[start:]
        distance = np.bitwise_count(hashes[left][:, None] ^ hashes[right][None, :])
        i, j = np.nonzero((distance <= max_distance) & (left[:, None] < right[None, :]))
        rows.append(np.stack([left[i], right[j], distance[i, j]], axis=1).astype(np.int64))
    return np.concatenate(rows)
