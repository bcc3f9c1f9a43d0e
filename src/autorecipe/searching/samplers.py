"""The search's sampler, chosen by name (multivariate TPE by default)."""

from __future__ import annotations

import math
import warnings

import optuna

from ..errors import AutorecipeError
from .space import SWITCH, SearchSpace

SAMPLERS = ("tpe", "random", "qmc", "grid", "gp")
MAX_GRID = 100_000  # grid points Optuna can list without running out of memory


def make_sampler(name: str, space: SearchSpace, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler called `name` (multivariate TPE by default)."""
    if name == "tpe":
        with warnings.catch_warnings():  # `group` (conditional knobs in multivariate TPE) is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed,
                                              n_startup_trials=5)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False,
                                          warn_asynchronous_seeding=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    if name == "grid":
        points = grid(space)
        size = math.prod(len(values) for values in points.values())
        if size > MAX_GRID:
            raise AutorecipeError(f"--sampler grid: {size:.3g} grid points over {len(points)} knobs is too many "
                                  f"(at most {MAX_GRID:,}); narrow the space with --buckets, --set or --space")
        return optuna.samplers.GridSampler(points, seed=seed)
    raise AutorecipeError(f"--sampler {name}: unknown sampler; valid samplers: {', '.join(SAMPLERS)}")


def grid(space: SearchSpace) -> dict[str, list]:
    """Every option of a choice knob, and GRID_POINTS evenly (or log-evenly) spaced values of a number
    knob (and on and off, for one that can be off)."""
    points = {}
    for name, r in space.ranges.items():
        if r.off is not None:
            points[name + SWITCH] = [True, False]
        points[name] = r.grid()
    return points
