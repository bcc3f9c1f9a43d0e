"""Intervals for accuracies measured on a finite number of images."""

from __future__ import annotations

import math

Z95 = 1.959964  # the normal quantile of a two-sided 95% interval


def wilson_interval(correct: float, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of `correct` out of `total` images (95% by default)."""
    if total <= 0:
        return 0.0, 1.0
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_halfwidth(total: int, accuracy: float = 0.5) -> float:
    """Half the width of the 95% interval of an accuracy measured on `total` images (widest at 50%)."""
    low, high = wilson_interval(accuracy * total, total)
    return (high - low) / 2
