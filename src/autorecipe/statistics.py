"""Intervals and paired comparisons for accuracies measured on a finite number of images.

One module for every verb that says how sure a figure is: fit (the validation interval),
search (the adoption rule: a recipe replaces the default only when it is better by more than
the noise) and the benchmarks. Paired comparisons take per-image correctness of two recipes on
the same images, trained with the same seeds: arrays of shape (seeds, images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

Z95 = 1.959964  # the normal quantile of a two-sided 95% interval
LEVEL = 0.95
RESAMPLES = 2000


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


@dataclass(frozen=True)
class Difference:
    """A paired difference of accuracies (a fraction: 0.012 is 1.2 points) with its interval."""

    mean: float
    low: float
    high: float
    method: str  # how the interval was computed, for the output
    level: float = LEVEL

    @property
    def above_zero(self) -> bool:
        """Whether the whole interval is above zero: the first is better by more than the noise."""
        return self.low > 0

    def points(self) -> str:
        """'+1.20 points [0.30, 2.10]'."""
        return f"{100 * self.mean:+.2f} points [{100 * self.low:+.2f}, {100 * self.high:+.2f}]"

    def __str__(self) -> str:
        return f"{self.points()} ({self.level:.0%} {self.method})"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "method": self.method, "level": self.level}


def paired_bootstrap(first, second, *, resamples: int = RESAMPLES, level: float = LEVEL,
                     seed: int = 0) -> Difference:
    """first - second, with a two-stage paired bootstrap: seeds resampled, then images.

    `first` and `second` are per-image scores (1/0 correctness) of shape (seeds, images) or
    (images,), on the same images and seeds; each resample draws seeds and images with
    replacement and takes the mean paired difference.
    """
    diff = _paired(first, second)
    what = "seeds and images" if diff.shape[0] > 1 else "images"
    return difference_of(float(diff.mean()), bootstrap_means(first, second, resamples=resamples, seed=seed),
                         f"paired bootstrap over {what}", level)


def bootstrap_means(first, second, *, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """The mean paired difference first - second in each of `resamples` two-stage bootstrap resamples
    (seeds, then images); averaging the arrays of several tasks gives the resamples of their mean."""
    diff = _paired(first, second)
    rng = np.random.default_rng(seed)
    seeds, images = diff.shape
    means = np.empty(resamples)
    for start in range(0, resamples, 100):  # in chunks: (100, seeds, images) at a time
        count = min(100, resamples - start)
        s = rng.integers(0, seeds, size=(count, seeds))
        i = rng.integers(0, images, size=(count, images))
        means[start:start + count] = diff[s[:, :, None], i[:, None, :]].mean(axis=(1, 2))
    return means


def difference_of(mean: float, resampled: np.ndarray, method: str, level: float = LEVEL) -> Difference:
    """A Difference with the percentile interval of bootstrap resamples `resampled`."""
    tail = (1 - level) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail])
    return Difference(mean, float(low), float(high), method, level)


def paired_t_interval(first, second, *, level: float = LEVEL) -> Difference:
    """first - second, with a t-interval over seeds (one mean difference a seed); with one seed, over images."""
    diff = _paired(first, second)
    units = diff.mean(axis=1) if diff.shape[0] > 1 else diff[0]
    mean = float(units.mean())
    if len(units) < 2:
        return Difference(mean, -math.inf, math.inf, "paired t-interval", level)
    half = float(stats.t.ppf((1 + level) / 2, len(units) - 1) * units.std(ddof=1) / math.sqrt(len(units)))
    what = "seeds" if diff.shape[0] > 1 else "images"
    return Difference(mean, mean - half, mean + half, f"paired t-interval over {what}", level)


def _paired(first, second) -> np.ndarray:
    """The per-image differences as (seeds, images), after checking that both arrays pair up."""
    a, b = np.atleast_2d(np.asarray(first, dtype=np.float64)), np.atleast_2d(np.asarray(second, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have the same shape (seeds, images): {a.shape} and {b.shape}")
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"paired scores must be (seeds, images) with at least one image, not {a.shape}")
    return a - b
