"""Knob declarations: every recipe setting is declared once, next to the code that applies it.

A knob has a name, a bucket, a default, a valid range, an optional search range and a
*baseline*: the value that means "this bucket switched off". Recipe validation, YAML,
search spaces, ablation baselines and the CLI's help are all derived from these
declarations.
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

from .errors import AutorecipeError

BUCKETS = ("architecture", "data", "regularization", "optimization")

# Modules that declare knobs; imported on first use of the registry.
_DECLARING_MODULES = (
    "autorecipe.architecture",
    "autorecipe.data.images",
    "autorecipe.regularization",
    "autorecipe.optimization",
)


@dataclass(frozen=True)
class Uniform:
    """A float search range, optionally log-scaled.

    `off`, when given, is the value that switches the technique off (e.g. mixup_alpha 0): the
    search first decides on or off, then samples the range only when on.
    """

    low: float
    high: float
    log: bool = False
    off: float | None = None

    def contains(self, value: Any) -> bool:
        return self.low <= value <= self.high or (self.off is not None and value == self.off)

    def __str__(self) -> str:
        text = f"{'log-' if self.log else ''}uniform({self.low:g}, {self.high:g})"
        return text + (f" or off ({self.off:g})" if self.off is not None else "")


@dataclass(frozen=True)
class IntRange:
    """An integer search range, optionally log-scaled; `off` as for Uniform."""

    low: int
    high: int
    log: bool = False
    off: int | None = None

    def contains(self, value: Any) -> bool:
        return self.low <= value <= self.high or (self.off is not None and value == self.off)

    def __str__(self) -> str:
        text = f"{'log-' if self.log else ''}int({self.low}, {self.high})"
        return text + (f" or off ({self.off})" if self.off is not None else "")


@dataclass(frozen=True)
class Choice:
    """A categorical search range."""

    options: tuple

    def contains(self, value: Any) -> bool:
        return value in self.options

    def __str__(self) -> str:
        return "choice(" + ", ".join(map(str, self.options)) + ")"


Space = Uniform | IntRange | Choice


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


@dataclass(frozen=True)
class Knob:
    """One declared recipe setting."""

    name: str
    bucket: str
    default: Any
    baseline: Any
    doc: str
    search: Space | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    when: Condition | None = None
    other: tuple[str, Callable[[str], bool]] | None = None

    @property
    def type(self) -> type:
        """The value type, taken from the default: bool, int, float or str."""
        return type(self.default)

    def valid_values(self) -> str:
        """Describe the valid values, for error messages and help."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices)) + (f"; or {self.other[0]}" if self.other else "")
        if self.type is bool:
            return "true or false"
        if self.type is str:
            return "text"
        kind = "an integer" if self.type is int else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} from {self.low:g} to {self.high:g}"
        if self.low is not None:
            return f"{kind} >= {self.low:g}"
        if self.high is not None:
            return f"{kind} <= {self.high:g}"
        return kind

    def validate(self, value: Any) -> Any:
        """Return `value` converted to the knob's type, or raise AutorecipeError."""
        where = f"{self.bucket}.{self.name}"
        bad = f"{where}: {value!r} is not valid; expected {self.valid_values()}"
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
                return value.lower() in ("true", "yes", "on")
            raise AutorecipeError(bad)
        if self.type is str:
            if not isinstance(value, str):
                raise AutorecipeError(bad)
            if self.choices is not None and value not in self.choices and not (self.other and self.other[1](value)):
                near = difflib.get_close_matches(value, [str(c) for c in self.choices], n=1)
                raise AutorecipeError(bad + (f" (did you mean {near[0]}?)" if near else ""))
            return value
        number = _to_number(value, self.type)
        if number is None:
            raise AutorecipeError(bad)
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise AutorecipeError(bad)
        return number


def _to_number(value: Any, kind: type) -> int | float | None:
    """Convert YAML or CLI input to an int or a finite float; None if impossible."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value) if kind is float else int(value)
        except ValueError:
            return None
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) else None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


_REGISTRY: dict[str, Knob] = {}


def knob(
    name: str,
    *,
    bucket: str,
    default: Any,
    baseline: Any,
    doc: str,
    search: Space | None = None,
    low: float | None = None,
    high: float | None = None,
    choices: tuple | list | None = None,
    when: tuple[str, Container] | Condition | None = None,
    other: tuple[str, Callable[[str], bool]] | None = None,
) -> Knob:
    """Declare a knob and register it; returns the declaration.

    `when=(other, values)` marks a conditional knob: it only matters while the knob `other`
    has one of `values` (search leaves it out otherwise); a `Condition` combines several tests.
    `other=(description, accepts)` lets a text knob with choices also take the values `accepts`
    returns true for.
    """
    if bucket not in BUCKETS:
        raise ValueError(f"knob {name}: bucket must be one of {BUCKETS}, got {bucket!r}")
    if name in _REGISTRY:
        raise ValueError(f"knob {name} is declared twice")
    if type(default) not in (bool, int, float, str):
        raise ValueError(f"knob {name}: default must be a bool, int, float or str")
    declared = Knob(name, bucket, default, baseline, doc, search, low, high,
                    tuple(choices) if choices is not None else None,
                    _condition(when), other)
    for value in (default, baseline):
        if declared.validate(value) != value:
            raise ValueError(f"knob {name}: {value!r} does not have the default's type")
    if search is not None:
        ends = search.options if isinstance(search, Choice) else (search.low, search.high)
        ends = (*ends, search.off) if getattr(search, "off", None) is not None else ends
        for value in ends:
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
