"""The search space, derived from the knob declarations and sampled define-by-run.

Every knob with a search range in the chosen buckets is searched, except the ones the user
fixed (`--set`) and `epochs`, which is the search's resource (each trial's full budget).
A knob whose range has an `off` value (mixup, cutmix, EMA, ...) is searched as two parameters:
`<knob>_on` (true or false), then the value only when on.
A space file narrows ranges (a knob that can be off keeps that option), fixes knobs, or adds a
range to a knob declared without one:

    width: [0.25, 1.0]        # a number knob: [low, high] inside its valid range
    batch_size: [64, 256]     # a number knob searched over listed options: the options to try
    model: [resnet9]          # a choice, bool or text knob: the options to try
    precision: auto           # a single value fixes the knob
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from ..errors import AutorecipeError
from ..files import regular
from ..knobs import BUCKETS, Choice, Knob, SearchRange, find_knob, is_active, registry
from .attributes import OUTSIDE
from ..recipe import Recipe, yaml_problem

RESOURCE_KNOB = "epochs"
SWITCH = "_on"  # suffix of the on/off parameter of a knob whose range has an `off` value


@dataclass(frozen=True)
class SearchSpace:
    """The knobs to search, each with its range, in an order where a condition comes before its knob."""

    ranges: dict[str, SearchRange]

    def __len__(self) -> int:
        return len(self.ranges)

    def knobs(self) -> dict[str, Knob]:
        """The declarations of the searched knobs, by name."""
        return {name: registry()[name] for name in self.ranges}

    def sample(self, trial: optuna.Trial, base: Recipe) -> Recipe:
        """The recipe of one trial: `base` with every active searched knob suggested by the trial.

        A queued trial may pin knobs outside their ranges (e.g. mixup off, when the range only
        covers "on") in its "outside" user attribute; those are set without asking the sampler.
        """
        values = {name: base.get(name) for name in registry()}
        values.update(trial.user_attrs.get(OUTSIDE, {}))
        for name, space in self.ranges.items():
            if is_active(registry()[name], values) and name not in trial.user_attrs.get(OUTSIDE, {}):
                values[name] = suggest(trial, name, space)
        return base.with_values({name: values[name] for name in self.ranges})

    def params_of(self, recipe: Recipe) -> tuple[dict[str, Any], dict[str, Any]]:
        """The trial parameters that reproduce `recipe`, and its active knob values outside their ranges."""
        values = {name: recipe.get(name) for name in registry()}
        inside, outside = {}, {}
        for name, space in self.ranges.items():
            if is_active(registry()[name], values):
                params = _params(name, space, values[name])
                if params is None:
                    outside[name] = values[name]
                else:
                    inside.update(params)
        return inside, outside

    def values_of(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The knob values that a trial's parameters stand for (a switch set to false: the knob's off value)."""
        values = {name: value for name, value in params.items() if name in self.ranges}
        for name, space in self.ranges.items():
            if params.get(name + SWITCH) is False:
                values[name] = space.off
        return values

    def within(self, recipe: Recipe, base: Recipe) -> Recipe:
        """What a trial of `recipe` trains: `base` with `recipe`'s values of the searched knobs."""
        params, outside = self.params_of(recipe)
        return base.with_values({**self.values_of(params), **outside})

    def recipe_of(self, trial, base: Recipe, queued: bool = False) -> Recipe:
        """The recipe a trial trained: `base` with its parameters and its pinned out-of-range values. With
        `queued`, the parameters a trial was queued with come first: what a waiting or running one will train
        (they may hold knobs its recipe makes inactive, which a finished trial's own parameters leave out)."""
        params = trial.system_attrs.get("fixed_params", trial.params) if queued else trial.params
        return base.with_values({**self.values_of(params), **trial.user_attrs.get(OUTSIDE, {})})

    def describe(self) -> list[tuple[str, str, str]]:
        """(knob, bucket, range) rows for display."""
        knobs = self.knobs()
        return [(name, knobs[name].bucket, str(space)) for name, space in self.ranges.items()]


def suggest(trial: optuna.Trial, name: str, space: SearchRange) -> Any:
    """Ask the trial for a value of knob `name` in `space` (first whether it is on, if it can be off)."""
    if space.off is not None and not trial.suggest_categorical(name + SWITCH, [True, False]):
        return space.off
    return space.suggest(trial, name)


def knob_of(param: str) -> str:
    """The knob a trial parameter sets (`<knob>_on` sets `<knob>`)."""
    return param if param in registry() else param.removesuffix(SWITCH)


def _params(name: str, space: SearchRange, value: Any) -> dict[str, Any] | None:
    """The trial parameters that give knob `name` the value `value`; None if `space` cannot."""
    if space.off is not None and value == space.off:
        return {name + SWITCH: False}
    if not space.accepts(value):
        return None
    return ({name + SWITCH: True} if space.off is not None else {}) | {name: value}


def build_space(buckets: Iterable[str] | None = None, space_file: str | Path | Mapping | None = None,
                fixed: Iterable[str] = ()) -> SearchSpace:
    """The space over `buckets` (default: all four) with the space file applied and `fixed` knobs removed."""
    buckets = list(buckets) if buckets is not None else list(BUCKETS)
    for bucket in buckets:
        if bucket not in BUCKETS:
            raise AutorecipeError(f"--buckets {bucket}: unknown bucket; valid buckets: {', '.join(BUCKETS)}")
    ranges: dict[str, SearchRange] = {n: k.search for n, k in registry().items()
                                if k.search is not None and k.bucket in buckets}
    overrides = read_space_file(space_file) if space_file is not None else {}
    for name, entry in overrides.items():
        knob = find_knob(*_split(name))
        if knob.name == RESOURCE_KNOB:
            raise AutorecipeError(f"space file: {name}: epochs is the search's resource; set it with --epochs")
        ranges[knob.name] = _narrow(knob, entry) if entry is not None else None
    fixed = {find_knob(*_split(name)).name for name in fixed}
    ranges = {n: r for n, r in ranges.items()
              if r is not None and n not in fixed and n != RESOURCE_KNOB and not _single(r)}
    if not ranges:
        raise AutorecipeError("the search space is empty: every knob of the chosen buckets is fixed; "
                              "choose more --buckets or fix fewer knobs")
    return SearchSpace(_conditions_first(ranges))


def fixed_values(space_file: str | Path | Mapping | None) -> dict[str, Any]:
    """The knobs a space file fixes to a single value, by name."""
    if space_file is None:
        return {}
    values = {}
    for name, entry in read_space_file(space_file).items():
        knob = find_knob(*_split(name))
        if entry is not None and not isinstance(entry, list):
            values[knob.name] = knob.validate(entry)
        elif isinstance(entry, list) and len(entry) == 1:
            values[knob.name] = knob.validate(entry[0])
    return values


def read_space_file(space_file: str | Path | Mapping) -> dict[str, Any]:
    """A space file's (or mapping's) entries as {knob or bucket.knob: range}, knob names checked."""
    if isinstance(space_file, Mapping):
        entries, source = space_file, "space"
    else:
        path = Path(space_file)
        try:
            entries = yaml.safe_load(regular(path).read_text())
        except OSError as error:
            raise AutorecipeError(f"cannot read space file {path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise AutorecipeError(f"{path}: not valid YAML: {yaml_problem(error)}") from None
        source = str(path)
    if entries is None:
        return {}
    if not isinstance(entries, Mapping):
        raise AutorecipeError(f"{source}: expected a mapping of knob: range, e.g. 'width: [0.25, 1.0]'")
    flat: dict[str, Any] = {}
    for key, entry in entries.items():
        if key in BUCKETS and isinstance(entry, Mapping):  # a bucket section
            flat.update({f"{key}.{name}": value for name, value in entry.items()})
        else:
            flat[str(key)] = entry
    try:
        for name in flat:
            find_knob(*_split(name))
    except AutorecipeError as error:
        raise AutorecipeError(f"{source}: {error}") from None
    return flat


def _narrow(knob: Knob, entry: Any) -> SearchRange:
    """The range a space-file entry gives `knob`; a single value becomes a one-option choice."""
    if not isinstance(entry, list):
        return Choice((knob.validate(entry),))
    if not entry:
        raise AutorecipeError(f"space file: {knob.bucket}.{knob.name}: an empty list; give [low, high] or the "
                              "options to try")
    return (knob.search or knob.valid).narrowed(knob, entry)


def _single(space: SearchRange) -> bool:
    return isinstance(space, Choice) and len(space.options) == 1


def _split(name: str) -> tuple[str | None, str]:
    bucket, _, short = name.rpartition(".")
    return bucket or None, short


def _conditions_first(ranges: dict[str, SearchRange]) -> dict[str, SearchRange]:
    """Order knobs so that each conditional knob follows the knob its condition names."""
    ordered: dict[str, SearchRange] = {}
    pending = dict(ranges)
    while pending:
        ready = [n for n in pending
                 if registry()[n].when is None or not set(registry()[n].when.knobs) & set(pending)]
        for name in ready or list(pending):  # a cycle of conditions: keep declaration order
            ordered[name] = pending.pop(name)
    return ordered
