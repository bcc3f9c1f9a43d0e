"""Images whose label is probably wrong, found and acted on. Found by confident learning (cleanlab) on out-of-fold predicted
probabilities: an image is flagged when its given label is unlikely under a model that never trained on it,
after the per-class noise rates are estimated (Northcutt et al., 2021); flagged images are ranked by the
probability of their given label, lowest (the likeliest wrong) first. Acted on at fit: the flagged images
of a label_issues.csv dropped or drawn less often."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores

from ..errors import AutorecipeError
from ..files import regular
from .dataset import ImageData


@dataclass(frozen=True)
class LabelIssues:
    """`ranked`: positions of the flagged images, likeliest wrong first; `quality`: every image's label quality
    (the out-of-fold probability of its given label); `predicted`: every image's most probable class."""

    ranked: np.ndarray
    quality: np.ndarray
    predicted: np.ndarray


def find_label_issues_ranked(labels: np.ndarray, probabilities: np.ndarray) -> LabelIssues:
    """The flagged images of `labels` (N,) given out-of-fold `probabilities` (N, K)."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    present = np.unique(labels)
    if len(present) < 2:  # confident learning compares classes; a single one has no issues to find
        return LabelIssues(np.zeros(0, np.int64), np.ones(len(labels)), probabilities.argmax(axis=1))
    ranked = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence",
                               filter_by="prune_by_noise_rate")
    quality = get_label_quality_scores(labels, probabilities, method="self_confidence")
    return LabelIssues(np.asarray(ranked, dtype=np.int64), quality, probabilities.argmax(axis=1))


ACTIONS = ("drop", "downweight")
FLAGGED_FILE = "label_issues.csv"  # as diagnose writes it
LEAST_WEIGHT = 0.05  # a down-weighted image is still drawn this often, at least, relative to the others


def read_flagged(path) -> dict[str, float]:
    """The flagged images of a label_issues.csv (or a diagnose folder holding one): name -> label quality."""
    path = Path(path)
    if path.is_dir():
        path = path / FLAGGED_FILE
    try:
        with regular(path).open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except OSError as error:
        raise AutorecipeError(f"flagged {str(path)!r}: {error.strerror or error}; give diagnose's --out folder or "
                              f"its {FLAGGED_FILE}") from None
    if rows and not {"image", "label_quality"} <= set(rows[0]):
        raise AutorecipeError(f"{path}: not a {FLAGGED_FILE} (its columns are {', '.join(rows[0])}; expected image "
                              f"and label_quality)")
    try:
        return {row["image"]: float(row["label_quality"]) for row in rows}
    except (TypeError, ValueError):
        raise AutorecipeError(f"{path}: a label_quality is not a number") from None


def apply_flagged(data: ImageData, flagged: dict[str, float], action: str) -> tuple[ImageData, int]:
    """`data` with its flagged images dropped, or drawn in proportion to their label quality (at least
    LEAST_WEIGHT); returns the data and how many of its images were flagged."""
    if action not in ACTIONS:
        raise AutorecipeError(f"flagged_action {action!r}: use {' or '.join(ACTIONS)}")
    names = data.names(np.arange(len(data)))
    hit = np.array([name in flagged for name in names], dtype=bool)
    if not hit.any():
        return data, 0
    if action == "drop":
        return data.subset(np.flatnonzero(~hit)), int(hit.sum())
    weights = np.ones(len(data)) if data.weights is None else data.weights.copy()
    weights[hit] *= np.clip([flagged[n] for n, h in zip(names, hit) if h], LEAST_WEIGHT, 1.0)
    return replace(data, weights=weights), int(hit.sum())
