"""Knob declarations: every recipe setting is declared once, next to the code that applies it.

A knob has a name, a bucket, a default, its valid values, an optional search range and a
*baseline*: the value that means "this bucket switched off". Recipe validation, YAML,
search spaces, ablation baselines and the CLI's help are all derived from these
declarations.

Valid values and search ranges are one family of constraint objects (values.py); the
declaring modules import them from here with `knob`.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

from ..errors import AutorecipeError
from .values import (GRID_POINTS, LOCAL_STEP, Boolean, BooleanOrAuto, Choice, Constraint, IntRange, Interval, Invalid,
                     Options, Registered, SearchRange, Text, Uniform)

__all__ = ["BUCKETS", "GRID_POINTS", "LOCAL_STEP", "ON", "Boolean", "BooleanOrAuto", "Choice", "Condition",
           "Constraint", "IntRange", "Interval", "Invalid", "Knob", "Not", "Options", "Registered", "SearchRange",
           "Text", "Uniform", "bucket_knobs", "find_knob", "is_active", "knob", "lookup_knob", "registry"]

BUCKETS = ("architecture", "data", "regularization", "optimization")

# Modules that declare knobs; imported on first use of the registry.
_DECLARING_MODULES = (
    "autorecipe.architecture",
    "autorecipe.data.images",
    "autorecipe.data.balance",
    "autorecipe.data.resolution",
    "autorecipe.regularization",
    "autorecipe.optimization",
    "autorecipe.semi",
)


@dataclass(frozen=True)
class Not:
    """Condition values: anything except these (`Not((0,))`: a knob whose off value is 0 is on)."""

    values: tuple

    def __contains__(self, value: Any) -> bool:
        return value not in self.values


ON = Not((0,))  # a number knob that switches its technique off at 0 (mixup_alpha, ema_decay, patience) is on


@dataclass(frozen=True)
class Condition:
    """When a conditional knob matters: all (or with `any_of`, any) of its (other knob, values) tests hold."""

    tests: tuple[tuple[str, Container], ...]
    any_of: bool = False

    @property
    def knobs(self) -> tuple[str, ...]:
        """The knobs the condition reads."""
        return tuple(name for name, _ in self.tests)

    def holds(self, values: dict[str, Any]) -> bool:
        results = (values.get(name) in allowed for name, allowed in self.tests)
        return any(results) if self.any_of else all(results)


# The valid values of a knob declared without `valid`: any value of its default's type.
_ANY_OF_TYPE = {bool: Boolean(), str: Text(), int: Interval(int), float: Interval(float)}


@dataclass(frozen=True)
class Knob:
    """One declared recipe setting."""

    name: str
    bucket: str
    default: Any
    baseline: Any
    doc: str | Callable[[], str]
    valid: Constraint
    search: SearchRange | None = None
    when: Condition | None = None

    @property
    def type(self) -> type:
        """The value type, taken from the default: bool, int, float or str."""
        return type(self.default)

    @property
    def help(self) -> str:
        """The knob's documentation (a registry-backed knob writes it from the registry's entries)."""
        return self.doc() if callable(self.doc) else self.doc

    def valid_values(self) -> str:
        """Describe the valid values, for error messages and help."""
        return str(self.valid)

    def validate(self, value: Any) -> Any:
        """Return `value` converted to the knob's type, or raise AutorecipeError."""
        try:
            return self.valid.convert(value)
        except Invalid as error:
            hint = f" ({error})" if str(error) else ""
            raise AutorecipeError(f"{self.bucket}.{self.name}: {value!r} is not valid; "
                                  f"expected {self.valid_values()}{hint}") from None


_REGISTRY: dict[str, Knob] = {}


def knob(
    name: str,
    *,
    bucket: str,
    default: Any,
    baseline: Any,
    doc: str | Callable[[], str],
    valid: Constraint | None = None,
    search: SearchRange | None = None,
    when: tuple[str, Container] | Condition | None = None,
) -> Knob:
    """Declare a knob and register it; returns the declaration.

    `valid` defaults to any value of the default's type. `when=(other, values)` marks a
    conditional knob: it only matters while the knob `other` has one of `values` (search
    leaves it out otherwise); a `Condition` combines several tests. `doc` may be a function,
    for a knob whose text lists a registry's entries.
    """
    if bucket not in BUCKETS:
        raise ValueError(f"knob {name}: bucket must be one of {BUCKETS}, got {bucket!r}")
    if name in _REGISTRY:
        raise ValueError(f"knob {name} is declared twice")
    if type(default) not in _ANY_OF_TYPE:
        raise ValueError(f"knob {name}: default must be a bool, int, float or str")
    declared = Knob(name, bucket, default, baseline, doc, valid or _ANY_OF_TYPE[type(default)], search,
                    _condition(when))
    for value in (default, baseline):
        if declared.validate(value) != value:
            raise ValueError(f"knob {name}: {value!r} does not have the default's type")
    for value in search.ends() if search is not None else ():
        declared.validate(value)
    _REGISTRY[name] = declared
    return declared


def registry() -> dict[str, Knob]:
    """All declared knobs by name, after importing every declaring module."""
    for module in _DECLARING_MODULES:
        importlib.import_module(module)
    for declared in _REGISTRY.values():
        for other in declared.when.knobs if declared.when is not None else ():
            if other not in _REGISTRY:
                raise ValueError(f"knob {declared.name}: condition names an unknown knob {other!r}")
    return _REGISTRY


def is_active(knob: Knob, values: dict[str, Any]) -> bool:
    """Whether a conditional knob matters, given the values of the other knobs by name."""
    return knob.when is None or knob.when.holds(values)


def _condition(when: tuple[str, Container] | Condition | None) -> Condition | None:
    if when is None or isinstance(when, Condition):
        return when
    other, allowed = when
    return Condition(((other, allowed if isinstance(allowed, Not) else tuple(allowed)),))


def bucket_knobs(bucket: str) -> dict[str, Knob]:
    """The knobs of one bucket, by name."""
    return {name: k for name, k in registry().items() if k.bucket == bucket}


def find_knob(bucket: str | None, name: str) -> Knob:
    """Look a knob up by name (and bucket, when given); raise a helpful error if unknown."""
    knobs = registry()
    found = knobs.get(name)
    where = f"{bucket}.{name}" if bucket else name
    if found is not None and bucket in (None, found.bucket):
        return found
    if found is not None:
        raise AutorecipeError(f"{where}: unknown knob; {name} is in the {found.bucket} bucket")
    pool = bucket_knobs(bucket) if bucket else knobs
    near = difflib.get_close_matches(name, list(pool), n=1) or difflib.get_close_matches(name, list(knobs), n=1)
    hint = f"did you mean {near[0]}?" if near else "see `autorecipe knobs` for the list"
    raise AutorecipeError(f"{where}: unknown knob; {hint}")


def lookup_knob(name: str) -> Knob:
    """A knob by `name` or `bucket.name` (an unknown bucket or knob is an error with a suggestion)."""
    bucket, _, short = name.rpartition(".")
    if bucket and bucket not in BUCKETS:
        near = difflib.get_close_matches(bucket, BUCKETS, n=1)
        hint = f"did you mean {near[0]}?" if near else "valid buckets: " + ", ".join(BUCKETS)
        raise AutorecipeError(f"{name}: unknown bucket {bucket!r}; {hint}")
    return find_knob(bucket or None, short)
