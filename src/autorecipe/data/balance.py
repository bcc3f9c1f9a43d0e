"""Imbalanced classes: loss re-weighting or class-balanced sampling, and the warnings a skewed training set earns.

`auto` re-weights by the effective number of samples (Cui et al., 2019) once the largest class holds
IMBALANCED times the images of the smallest, and leaves balanced data as it is.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from ..errors import AutorecipeWarning
from ..knobs import Interval, Options, knob

log = logging.getLogger("autorecipe")

IMBALANCED = 3.0  # largest class over smallest from which auto balances (and metric auto is balanced accuracy)
FEW_IMAGES = 10  # a class with fewer training images than this earns a warning
MODES = ("none", "inverse_frequency", "effective_number", "balanced_sampling")

CLASS_BALANCE = knob(
    "class_balance", bucket="data", default="auto", baseline="none", valid=Options(("auto",) + MODES),
    doc="Imbalanced classes: inverse_frequency (each class's loss weighted by 1/its images), effective_number "
        "(by 1/its effective number of samples, (1 - beta^n) / (1 - beta): Cui et al., 2019, a softer "
        "weighting), balanced_sampling (batches drawn with every class equally likely) or none. auto: "
        f"effective_number when the largest class has {IMBALANCED:g} times the images of the smallest or more, "
        "else none.",
)
BALANCE_BETA = knob(
    "balance_beta", bucket="data", default=0.999, baseline=0.999, valid=Interval(float, 0.0, 0.99999),
    when=("class_balance", ("effective_number", "auto")),
    doc="beta of the effective number of samples: 0 weights every class alike, towards 1 it approaches "
        "inverse frequency.",
)


def imbalance_ratio(counts: np.ndarray) -> float:
    """Images of the largest class over those of the smallest non-empty one (1.0: balanced)."""
    present = counts[counts > 0]
    return float(present.max() / present.min()) if len(present) else 1.0


def resolve_balance(section, counts: np.ndarray) -> str:
    """The balancing a data section trains with on classes of `counts` images: auto resolved."""
    if section.class_balance != "auto":
        return section.class_balance
    return "effective_number" if imbalance_ratio(counts) >= IMBALANCED else "none"


def class_weights(mode: str, counts: np.ndarray, beta: float) -> np.ndarray | None:
    """Per-class loss weights for `mode` (None: unweighted), scaled so the mean weight over the training
    images is 1 (a mixed, soft target's loss keeps its scale)."""
    if mode not in ("inverse_frequency", "effective_number"):
        return None
    n = np.maximum(counts.astype(np.float64), 1.0)
    effective = n if mode == "inverse_frequency" else (1.0 - beta ** n) / (1.0 - beta)
    weights = 1.0 / effective
    return weights * counts.sum() / float((weights * counts).sum())


def sampling_weights(mode: str, labels: np.ndarray, num_classes: int) -> np.ndarray | None:
    """Per-image sampling weights that make every class equally likely a draw (None: plain shuffling)."""
    if mode != "balanced_sampling":
        return None
    counts = np.bincount(labels, minlength=num_classes)
    return 1.0 / counts[labels]


def warn_if_imbalanced(classes: list[str], counts: np.ndarray, mode: str) -> None:
    """Warn (in the log, and as an AutorecipeWarning to the caller) about classes with very few training
    images and about imbalance, saying how training handles it."""
    few = [(name, int(n)) for name, n in zip(classes, counts) if 0 < n < FEW_IMAGES]
    ratio = imbalance_ratio(counts)
    texts = []
    if few:
        listed = ", ".join(f"{name!r} ({n})" for name, n in few[:10]) + (", ..." if len(few) > 10 else "")
        texts.append(f"{len(few)} class(es) have fewer than {FEW_IMAGES} training images: {listed}; their "
                     f"scores rest on a few images, and more images of them would help most")
    if ratio >= IMBALANCED:
        largest, smallest = int(np.argmax(counts)), int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
        texts.append(f"imbalanced classes: {classes[largest]!r} has {int(counts[largest])} training images, "
                     f"{classes[smallest]!r} {int(counts[smallest])} ({ratio:.1f}x); class_balance: {mode}"
                     + ("" if mode != "none" else " (set class_balance to auto or effective_number to balance)")
                     + "; balanced accuracy and macro-F1 say more than accuracy here")
    for text in texts:
        log.warning("%s", text)
        warnings.warn(text, AutorecipeWarning, stacklevel=3)
