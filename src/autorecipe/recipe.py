"""A Recipe: one choice in each of the four buckets, loaded from and saved to YAML."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import AutorecipeError
from .files import regular, write_atomic
from .knobs import BUCKETS, bucket_knobs, find_knob, lookup_knob, registry


class Section:
    """The knob values of one bucket; read and set as attributes, validated on every set."""

    def __init__(self, bucket: str, values: Mapping[str, Any] | None = None):
        object.__setattr__(self, "_bucket", bucket)
        object.__setattr__(self, "_values", {n: k.default for n, k in bucket_knobs(bucket).items()})
        for name, value in (values or {}).items():
            setattr(self, name, value)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"{self._bucket} has no knob {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise AutorecipeError(f"{self._bucket}: knob names must be text, got {name!r}")
        self._values[name] = find_knob(self._bucket, name).validate(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Section) and (self._bucket, self._values) == (other._bucket, other._values)

    def __repr__(self) -> str:
        return f"Section({self._bucket!r}, {self._values!r})"

    def to_dict(self) -> dict[str, Any]:
        """The knob values in declaration order."""
        return dict(self._values)


class Recipe:
    """One choice in every bucket: architecture, data, regularization, optimization."""

    def __init__(self, **sections: Mapping[str, Any] | Section):
        for bucket in BUCKETS:
            values = sections.pop(bucket, None)
            if isinstance(values, Section):
                values = values.to_dict()
            if values is not None and not isinstance(values, Mapping):
                raise AutorecipeError(f"{bucket}: expected a mapping of knob: value, got {values!r}")
            setattr(self, bucket, Section(bucket, values))
        if sections:
            name = next(iter(sections))
            near = difflib.get_close_matches(str(name), BUCKETS, n=1)
            hint = f"did you mean {near[0]}?" if near else "the sections are " + ", ".join(BUCKETS)
            raise AutorecipeError(f"{name}: unknown recipe section; {hint}")

    architecture: Section
    data: Section
    regularization: Section
    optimization: Section

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipe) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Recipe({self.to_dict()!r})"

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """All knob values, section by section."""
        return {bucket: getattr(self, bucket).to_dict() for bucket in BUCKETS}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Recipe:
        """Build a recipe from nested mappings; missing knobs take their defaults."""
        if values is None:
            return cls()
        if not isinstance(values, Mapping):
            raise AutorecipeError(f"a recipe must be a mapping of sections, got {values!r}")
        return cls(**{str(k): v for k, v in values.items()})

    @classmethod
    def coerce(cls, recipe: Recipe | str | Path | Mapping | None = None,
               overrides: Iterable[str] | Mapping | None = None, epochs: int | None = None) -> Recipe:
        """The recipe to train: a Recipe, a YAML file, a mapping or None (the default recipe); then
        `overrides` (knob=value strings, or a mapping) and `epochs` applied."""
        if recipe is None:
            recipe = cls()
        elif isinstance(recipe, (str, Path)):
            recipe = cls.load(recipe)
        elif isinstance(recipe, Mapping):
            recipe = cls.from_dict(recipe)
        elif not isinstance(recipe, Recipe):
            raise AutorecipeError(f"recipe must be a Recipe, a YAML file or a mapping, got {type(recipe).__name__}")
        if isinstance(overrides, str):
            overrides = [overrides]
        elif overrides is not None and not isinstance(overrides, (Mapping, Iterable)):
            raise AutorecipeError(f"overrides must be knob=value strings or a mapping, got {type(overrides).__name__}")
        if overrides:
            recipe = (recipe.with_values(overrides) if isinstance(overrides, Mapping)
                      else recipe.with_overrides(overrides))
        if epochs is not None:
            recipe = recipe.with_values({"epochs": epochs})
        return recipe

    def to_yaml(self) -> str:
        """The recipe as YAML text; `Recipe.from_yaml` reads it back exactly."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str = "recipe") -> Recipe:
        """Parse YAML text into a recipe."""
        return cls.from_dict(_yaml_values(text, source))

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        """Read a recipe file."""
        path = Path(path)
        try:
            text = regular(path).read_text()
        except OSError as error:
            raise AutorecipeError(f"cannot read recipe {path}: {error.strerror}") from None
        except UnicodeDecodeError as error:
            raise AutorecipeError(f"cannot read recipe {path}: not UTF-8 text ({error.reason} at byte "
                                  f"{error.start})") from None
        values = _yaml_values(text, str(path))
        try:
            return cls.from_dict(values)
        except AutorecipeError as error:
            raise AutorecipeError(f"{path}: {error}") from None

    def save(self, path: str | Path) -> None:
        """Write the recipe as YAML, atomically."""
        write_atomic(Path(path), self.to_yaml().encode())

    def copy(self) -> Recipe:
        """An independent copy."""
        return Recipe.from_dict(self.to_dict())

    def get(self, name: str) -> Any:
        """The value of a knob, by `name` or `bucket.name`."""
        knob = lookup_knob(name)
        return getattr(getattr(self, knob.bucket), knob.name)

    def with_values(self, values: Mapping[str, Any]) -> Recipe:
        """A copy with knobs set, keyed by `name` or `bucket.name`."""
        new = self.copy()
        for name, value in values.items():
            knob = lookup_knob(name)
            setattr(getattr(new, knob.bucket), knob.name, value)
        return new

    def changes_from(self, base: Recipe) -> dict[str, Any]:
        """The knobs whose value here differs from `base`'s, by name."""
        return {name: self.get(name) for name in registry() if self.get(name) != base.get(name)}

    def with_overrides(self, assignments: Iterable[str]) -> Recipe:
        """A copy with `knob=value` strings applied (values parsed as YAML scalars)."""
        values = {}
        for text in assignments:
            name, sep, raw = text.partition("=") if isinstance(text, str) else ("", "", "")
            if not sep or not name.strip():
                raise AutorecipeError(f"--set {text!r}: expected knob=value, e.g. label_smoothing=0.1")
            values[name.strip()] = parse_value(raw)
        return self.with_values(values)

    def switched_off(self, bucket: str) -> Recipe:
        """A copy with every knob of `bucket` at its baseline value."""
        if bucket not in BUCKETS:
            raise AutorecipeError(f"{bucket}: unknown bucket; valid buckets: {', '.join(BUCKETS)}")
        return self.with_values({f"{bucket}.{n}": k.baseline for n, k in bucket_knobs(bucket).items()})


def _yaml_values(text: str, source: str) -> Any:
    """What YAML text holds; an error naming `source` where it is not valid YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise AutorecipeError(f"{source}: not valid YAML: {yaml_problem(error)}") from None


def parse_value(raw: str) -> Any:
    """A knob=value's value as YAML reads it (0.1, true, [1, 2]), or the text itself where it is not valid YAML."""
    if not raw.strip():
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML parser's error in one line: what it found, and where."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem
