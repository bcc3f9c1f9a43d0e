"""The values a knob accepts and where the search looks for it: one family of constraint objects.

In the spirit of scikit-learn's `Interval` and `StrOptions`, each constraint converts a value or
says why it cannot (Invalid), and describes itself for messages and help. Search ranges are
constraints that also know how to be sampled, gridded and stepped, so the search never
dispatches on their type.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import AutorecipeError

if TYPE_CHECKING:
    from . import Knob

LOCAL_STEP = 0.2  # the largest local move of a number, as a fraction of its (log-)range
GRID_POINTS = 3  # values of a number range on a grid


class Invalid(ValueError):
    """A value a constraint does not accept; the message, when any, is a hint for the user."""


class Constraint:
    """Valid values: `convert` returns the value in canonical form or raises Invalid; str() describes them."""

    def convert(self, value: Any) -> Any:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        """Whether `convert` takes `value`."""
        try:
            self.convert(value)
        except Invalid:
            return False
        return True

    def narrowed(self, knob: Knob, entry: list) -> SearchRange:
        """The search range a space file's list `entry` gives `knob`: by default, the listed values."""
        return Choice(tuple(dict.fromkeys(knob.validate(v) for v in entry)))


@dataclass(frozen=True)
class Boolean(Constraint):
    """true or false (also yes/no and on/off as text)."""

    def convert(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
            return value.lower() in ("true", "yes", "on")
        raise Invalid()

    def __str__(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class BooleanOrAuto(Boolean):
    """true or false, or auto (decided from the data when training starts)."""

    def convert(self, value: Any) -> bool | str:
        if isinstance(value, str) and value.lower() == "auto":
            return "auto"
        return super().convert(value)

    def __str__(self) -> str:
        return "true, false or auto"


@dataclass(frozen=True)
class Text(Constraint):
    """Any text."""

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid()
        return value

    def __str__(self) -> str:
        return "text"


@dataclass(frozen=True)
class Interval(Constraint):
    """An integer or a finite number, optionally bounded on either side (bounds included)."""

    kind: type  # int or float
    low: float | None = None
    high: float | None = None

    def convert(self, value: Any) -> int | float:
        number = _to_number(value, self.kind)
        if number is None or (self.low is not None and number < self.low) \
                or (self.high is not None and number > self.high):
            raise Invalid()
        return number

    def narrowed(self, knob: Knob, entry: list) -> SearchRange:
        """[low, high] gives a range of the knob's kind (a single value, a one-option choice)."""
        numbers = IntRange(0, 1) if self.kind is int else Uniform(0.0, 1.0)
        return numbers.narrowed(knob, entry)

    def __str__(self) -> str:
        kind = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} from {self.low:g} to {self.high:g}"
        if self.low is not None:
            return f"{kind} >= {self.low:g}"
        if self.high is not None:
            return f"{kind} <= {self.high:g}"
        return kind


class Options(Constraint):
    """One of listed text values, or with `other=(description, accepts)` any text `accepts` takes.

    `values` may be a registry (a dict): its names are read whenever the knob is checked.
    """

    def __init__(self, values: Iterable[str], other: tuple[str, Callable[[str], bool]] | None = None):
        self._values = values if isinstance(values, dict) else tuple(values)  # a registry stays live
        self.other = other

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self._values)

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid()
        if value in self.values or (self.other and self.other[1](value)):
            return value
        near = difflib.get_close_matches(value, [str(v) for v in self.values], n=1)
        raise Invalid(f"did you mean {near[0]}?" if near else "")

    def __str__(self) -> str:
        return "one of " + ", ".join(self.values) + (f"; or {self.other[0]}" if self.other else "")


class SearchRange(Constraint):
    """Where the search looks for a knob's value; `off`, when not None, switches the technique off.

    A range with `off` is searched as two parameters: `<knob>_on`, then the value when on.
    """

    off: Any = None

    def suggest(self, trial, name: str) -> Any:
        """Ask an Optuna trial for a value in the range."""
        raise NotImplementedError

    def grid(self) -> list:
        """The values a grid search tries."""
        raise NotImplementedError

    def ends(self) -> list:
        """The extreme values (and the off value): each must be a valid value of the knob."""
        raise NotImplementedError

    def moved(self, value: Any, rng: np.random.Generator) -> Any:
        """A value of the range near `value` and different from it where the range allows."""
        raise NotImplementedError


@dataclass(frozen=True)
class Choice(SearchRange):
    """A categorical search range."""

    options: tuple

    def convert(self, value: Any) -> Any:
        if value not in self.options:
            raise Invalid()
        return value

    def suggest(self, trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.options))

    def grid(self) -> list:
        return list(self.options)

    def ends(self) -> list:
        return list(self.options)

    def moved(self, value: Any, rng: np.random.Generator) -> Any:
        others = [option for option in self.options if option != value] or list(self.options)
        return others[int(rng.integers(len(others)))]

    def __str__(self) -> str:
        return "choice(" + ", ".join(map(str, self.options)) + ")"


class Registered(Choice):
    """A categorical range over the entries of a live registry that have a `search_rank`, in its order."""

    def __init__(self, entries: dict):
        object.__setattr__(self, "entries", entries)

    @property
    def options(self) -> tuple:
        ranked = [(entry.search_rank, name) for name, entry in self.entries.items() if entry.search_rank is not None]
        return tuple(name for _, name in sorted(ranked))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Choice) and self.options == other.options

    def __hash__(self) -> int:
        return hash(self.options)

    def __repr__(self) -> str:
        return f"Registered({self.options!r})"


@dataclass(frozen=True)
class _Numbers(SearchRange):
    """A number range, optionally log-scaled; `off` as for SearchRange."""

    low: float
    high: float
    log: bool = False
    off: float | None = None
    kind: ClassVar[type] = float

    def convert(self, value: Any) -> Any:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not (self.low <= value <= self.high or (self.off is not None and value == self.off)):
            raise Invalid()
        return value

    def _scale(self, value: float) -> float:
        return math.log(value) if self.log else value

    def _unscale(self, x: float) -> int | float:
        value = math.exp(x) if self.log else x
        return min(max(round(value), self.low), self.high) if self.kind is int else value

    def draw(self, rng: np.random.Generator) -> int | float:
        """A value anywhere in the range (log-uniformly for a log range)."""
        return self._unscale(rng.uniform(self._scale(self.low), self._scale(self.high)))

    def grid(self) -> list:
        low, high = self._scale(self.low), self._scale(self.high)
        values = [self._unscale(low + (high - low) * i / (GRID_POINTS - 1)) for i in range(GRID_POINTS)]
        return sorted(set(values)) if self.kind is int else values

    def ends(self) -> list:
        return [self.low, self.high] + ([self.off] if self.off is not None else [])

    def moved(self, value: Any, rng: np.random.Generator) -> Any:
        if self.off is not None and (value == self.off or rng.random() < 1 / 3):  # switch it on or off
            return self.draw(rng) if value == self.off else self.off
        if not self.low <= value <= self.high:  # e.g. an automatic value (0): anywhere in the range
            return self.draw(rng)
        low, high, at = self._scale(self.low), self._scale(self.high), self._scale(value)
        new = self._unscale(min(max(at + rng.uniform(-LOCAL_STEP, LOCAL_STEP) * (high - low), low), high))
        if self.kind is int and new == value:
            new = value + 1 if value < self.high else value - 1
        return new

    def narrowed(self, knob: Knob, entry: list) -> SearchRange:
        where = f"space file: {knob.bucket}.{knob.name}"
        if len(entry) == 1:
            return super().narrowed(knob, entry)
        if len(entry) != 2:
            raise AutorecipeError(f"{where}: {entry!r}: a number knob takes [low, high]")
        low, high = (knob.validate(v) for v in entry)
        if low >= high:
            raise AutorecipeError(f"{where}: [{low}, {high}]: low must be below high")
        return type(self)(self.kind(low), self.kind(high), self.log and low > 0, self.off)


@dataclass(frozen=True)
class Uniform(_Numbers):
    """A float search range, optionally log-scaled.

    `off`, when given, is the value that switches the technique off (e.g. mixup_alpha 0): the
    search first decides on or off, then samples the range only when on.
    """

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def __str__(self) -> str:
        text = f"{'log-' if self.log else ''}uniform({self.low:g}, {self.high:g})"
        return text + (f" or off ({self.off:g})" if self.off is not None else "")


@dataclass(frozen=True)
class IntRange(_Numbers):
    """An integer search range, optionally log-scaled; `off` as for Uniform."""

    low: int
    high: int
    log: bool = False
    off: int | None = None
    kind: ClassVar[type] = int

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)

    def __str__(self) -> str:
        text = f"{'log-' if self.log else ''}int({self.low}, {self.high})"
        return text + (f" or off ({self.off})" if self.off is not None else "")


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
