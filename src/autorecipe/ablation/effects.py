"""What an ablation's cells say: each arm's accuracy over seeds, each bucket's contribution (the full recipe
against it reset), the steps of the cumulative path, and an interaction, with intervals, in plain words.

Paired: every arm is trained with the same seeds, so differences are taken seed by seed and image by image,
with a paired t-interval over seeds and a paired bootstrap over seeds and validation images (statistics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from ..statistics import LEVEL, Difference, paired_bootstrap, paired_t_interval
from .arms import FULL, Arm


@dataclass(frozen=True)
class ArmScore:
    """An arm's validation accuracy over seeds: mean, standard deviation, the t-interval of the mean."""

    name: str
    kind: str
    accuracies: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies, ddof=1)) if len(self.accuracies) > 1 else 0.0

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        n = len(self.accuracies)
        if n < 2:
            return -math.inf, math.inf
        half = scipy_stats.t.ppf((1 + level) / 2, n - 1) * self.std / math.sqrt(n)
        return self.mean - half, self.mean + half

    def to_dict(self) -> dict:
        low, high = self.interval()
        return {"name": self.name, "kind": self.kind, "accuracies": list(self.accuracies), "mean": self.mean,
                "std": self.std, "interval": [low, high]}


@dataclass(frozen=True)
class Effect:
    """A difference between arms: what a bucket (or knob, or step) adds, by two intervals."""

    name: str  # the bucket, knob, path step or interaction
    t: Difference
    bootstrap: Difference

    def verdict(self) -> str:
        """'regularization: +2.10 points [+1.20, +3.00]', and whether it is more than the noise."""
        b = self.bootstrap
        sure = ("helps" if b.low > 0 else "hurts" if b.high < 0 else "cannot be told from zero")
        return f"{self.name}: {b.points()}: {sure}"

    def to_dict(self) -> dict:
        return {"name": self.name, "t_interval": self.t.to_dict(), "bootstrap": self.bootstrap.to_dict(),
                "verdict": self.verdict()}


def scores(arms: list[Arm], runs: dict[str, str], cells: dict[tuple[str, int], dict],
           seeds: list[int]) -> dict[str, ArmScore]:
    """Each arm's accuracies over the seeds, read from the cells of the run it shares."""
    return {arm.name: ArmScore(arm.name, arm.kind, tuple(cells[runs[arm.name], s]["val_accuracy"] for s in seeds))
            for arm in arms}


def correctness(name: str, runs: dict[str, str], cells: dict[tuple[str, int], dict], seeds: list[int]) -> np.ndarray:
    """The arm's per-image correctness, (seeds, validation images)."""
    rows = [np.frombuffer(cells[runs[name], s]["correct"].encode(), np.uint8) - ord("0") for s in seeds]
    return np.stack(rows).astype(np.float64)


def effect(name: str, better, worse) -> Effect:
    """`better` - `worse` (per-image scores, (seeds, images)) by both paired intervals."""
    return Effect(name, paired_t_interval(better, worse), paired_bootstrap(better, worse))


def bucket_effects(arms: list[Arm], runs, cells, seeds) -> list[Effect]:
    """Each bucket's (and, per knob, each knob's) contribution: the full recipe against it reset."""
    full = correctness(FULL, runs, cells, seeds)
    return [effect(arm.reset[0], full, correctness(arm.name, runs, cells, seeds))
            for arm in arms if arm.kind in ("leave_one_out", "knob")]


def path_effects(arms: list[Arm], runs, cells, seeds) -> list[Effect]:
    """The cumulative path's steps: what adding each bucket to the ones before gave (a waterfall)."""
    steps = [arm for arm in arms if arm.kind == "baseline"] + [arm for arm in arms if arm.kind == "path"]
    steps.append(next(arm for arm in arms if arm.kind == "full"))
    added = [bucket for bucket in steps[0].reset]  # the path's order: the baseline resets every active bucket
    out = []
    for before, after, bucket in zip(steps, steps[1:], added):
        out.append(effect(f"+ {bucket}", correctness(after.name, runs, cells, seeds),
                          correctness(before.name, runs, cells, seeds)))
    return out


def interaction_effect(pair: tuple[str, str], arms: list[Arm], runs, cells, seeds) -> Effect:
    """Whether two buckets' joint contribution differs from the sum of their separate ones:
    (full - without both) - [(full - without a) + (full - without b)] = without a + without b - full - without both.
    Positive: together they give more than apart (they help each other); negative: they overlap."""
    def of(name):
        return correctness(name, runs, cells, seeds)
    a, b = pair
    joint = next(arm.name for arm in arms if arm.kind == "interaction" and arm.reset == pair)
    return effect(f"{a} x {b}", of(f"without {a}") + of(f"without {b}"), of(FULL) + of(joint))
