"""The Optuna parts of a search, chosen by name: sampler, pruner and storage."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from ..errors import AutorecipeError
from ..knobs import Choice, IntRange
from .objective import queue_again
from .space import SWITCH, SearchSpace

SAMPLERS = ("tpe", "random", "qmc", "grid", "gp")
PRUNERS = ("hyperband", "halving", "median", "none")
MIN_RESOURCE_FRACTION = 0.25  # the first rung: a quarter of a trial's epochs (see README, "Pruning")
REDUCTION_FACTOR = 3
GRID_POINTS = 3  # values per number knob on a grid
MAX_GRID = 100_000  # grid points Optuna can list without running out of memory
JOURNAL = "study.journal"
DATABASES = ("postgresql", "mysql", "sqlite", "oracle", "mssql")  # URL schemes of Optuna's RDB storage
HEARTBEAT_S, GRACE_S = 60, 300  # seconds: a database worker's heartbeat, and the silence that ends its trial


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
        if isinstance(r, Choice):
            points[name] = list(r.options)
            continue
        if r.off is not None:
            points[name + SWITCH] = [True, False]
        ends = (math.log(r.low), math.log(r.high)) if r.log else (r.low, r.high)
        values = [ends[0] + (ends[1] - ends[0]) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]
        values = [math.exp(v) for v in values] if r.log else values
        points[name] = sorted({round(v) for v in values}) if isinstance(r, IntRange) else values
    return points


def min_resource(max_epochs: int, min_epochs: int | None = None) -> int:
    """The first rung in epochs: `min_epochs`, or MIN_RESOURCE_FRACTION of a trial's epochs."""
    if min_epochs is None:
        return max(1, math.ceil(max_epochs * MIN_RESOURCE_FRACTION))
    if not 1 <= min_epochs <= max_epochs:
        raise AutorecipeError(f"--min-epochs {min_epochs}: must be from 1 to the trial's epochs ({max_epochs})")
    return min_epochs


def make_pruner(name: str, max_epochs: int, min_epochs: int | None = None) -> optuna.pruners.BasePruner:
    """The pruner called `name` over epochs (Hyperband by default)."""
    first = min_resource(max_epochs, min_epochs)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=first, max_resource=max_epochs,
                                              reduction_factor=REDUCTION_FACTOR)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=REDUCTION_FACTOR)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=first - 1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise AutorecipeError(f"--pruner {name}: unknown pruner; valid pruners: {', '.join(PRUNERS)}")


def _run_again(study: optuna.Study, trial) -> None:
    """Queue a trial whose worker's heartbeat stopped, marked interrupted (run again, not failed)."""
    study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
    queue_again(study, trial)


def open_storage(url: str | None, folder: Path) -> optuna.storages.BaseStorage | str:
    """The study's storage: a journal file in `folder` by default, else any Optuna storage URL."""
    if url is None:
        return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    if url.startswith("sqlite"):
        optuna.logging.get_logger("autorecipe").warning("SQLite storage is not safe for parallel workers")
    try:
        if url.split(":", 1)[0].split("+", 1)[0] in DATABASES:
            # a worker that stops beating for GRACE_S (a killed host) has its trial failed and run again
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                              heartbeat_stale_trial_callback=_run_again)
        return optuna.storages.get_storage(url)
    except (ValueError, ImportError, ModuleNotFoundError) as error:
        raise AutorecipeError(f"--storage {url}: cannot open it: {error}") from None
    except Exception as error:  # a database that refuses the connection
        raise AutorecipeError(f"--storage {url}: cannot connect: {str(error).splitlines()[0]}") from None
