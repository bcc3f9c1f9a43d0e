"""The recipe library: each finished study's dataset meta-features, chosen recipe and score.

One JSON line per study in `library.jsonl` under `--library`, `$AUTORECIPE_LIBRARY`, or
~/.autorecipe/library. The package also ships a library (`shipped_recipes.jsonl`, data: a
header line with its format and how it was built, then entries), written by
benchmarks/search_suite.py from its searches' adopted recipes. A new study starts with the
best recipes of the most similar datasets of both.

An entry holds its chosen recipe and what its search changed from the base recipe it searched from;
a new search applies those changes to its own base. The input size, colour, batch size and precision
are the new data's and device's to decide, never an entry's (a 64 px or grayscale entry must not
make a 32 px colour search train at 64 px in grayscale; a batch halved for 1,000 images is not
one for 50,000).
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..data.dataset import ImageData
from ..errors import AutorecipeError
from ..files import regular
from ..knobs import registry
from ..recipe import Recipe

log = logging.getLogger("autorecipe")
FILE = "library.jsonl"
SHIPPED = Path(__file__).with_name("shipped_recipes.jsonl")
SHIPPED_FORMAT = 1  # the shipped file's format version (its header line says which it is)
NEAREST = 3  # past datasets whose best recipes a new study tries first
LOCAL_KNOBS = ("image_size", "channels", "batch_size", "precision")  # the data's and device's: never carried over


@dataclass(frozen=True)
class MetaFeatures:
    """What a dataset looks like: size, classes, resolution, colour and class balance."""

    images: int
    classes: int
    resolution: int
    channels: int
    balance: float  # smallest class count / largest class count

    @classmethod
    def of(cls, data: ImageData) -> MetaFeatures:
        counts = data.class_counts()
        counts = counts[counts > 0]
        return cls(len(data), len(data.classes), data.image_size, data.channels,
                   float(counts.min() / counts.max()) if len(counts) else 1.0)

    def distance(self, other: MetaFeatures) -> float:
        """Dissimilarity: log-scale differences in size, classes and resolution, plus colour and balance."""
        return math.sqrt(
            math.log(self.images / other.images) ** 2 + math.log(self.classes / other.classes) ** 2
            + math.log(self.resolution / other.resolution) ** 2 + (self.channels != other.channels)
            + (self.balance - other.balance) ** 2)


@dataclass(frozen=True)
class Entry:
    """One finished study in the library."""

    dataset: MetaFeatures
    recipe: dict
    score: float
    description: str
    date: str
    shipped: bool = False  # from the library the package ships, not the user's
    changes: dict | None = None  # knob: value its search changed from its base recipe (None: an older entry)
    study: str | None = None  # the study's storage and name: several workers of one study record it once

    def recipe_for(self, base: Recipe) -> Recipe:
        """The entry's recipe for a new search from `base`: `base` with the entry's changes (an older entry
        without them: its whole recipe), less the knobs the data and device decide (LOCAL_KNOBS)."""
        if self.changes is not None:
            values = dict(self.changes)
        else:
            recipe = Recipe.from_dict(self.recipe)
            values = {name: recipe.get(name) for name in registry()}
        return base.with_values({name: value for name, value in values.items() if name not in LOCAL_KNOBS})

    @property
    def label(self) -> str:
        """How the search names the entry: its description, marked when shipped."""
        return (self.description or "unnamed") + (" (shipped)" if self.shipped else "")


def library_dir(path: str | Path | None = None) -> Path:
    """The library folder: `path`, else $AUTORECIPE_LIBRARY, else ~/.autorecipe/library."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("AUTORECIPE_LIBRARY") or Path.home() / ".autorecipe" / "library")


def read_library(folder: Path) -> list[Entry]:
    """Every entry in the library (an absent library is empty; damaged lines are skipped)."""
    return _read_entries(folder / FILE, shipped=False)


def read_shipped(path: Path | None = None) -> list[Entry]:
    """The entries of the library the package ships (none from a file of another format)."""
    path = path or SHIPPED
    try:
        header = json.loads(regular(path).read_text().partition("\n")[0])
    except (OSError, ValueError):
        return []
    if not isinstance(header, dict) or header.get("library_format") != SHIPPED_FORMAT:
        return []
    return _read_entries(path, shipped=True)


def _read_entries(path: Path, shipped: bool) -> list[Entry]:
    """The entries of one library file; lines that are not entries (a header, damage) are skipped."""
    if not path.exists():
        return []
    try:
        lines = regular(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        log.warning("recipe library %s left out: %s", path, error)
        return []
    entries = []
    for line in lines:
        try:
            raw = json.loads(line)
            changes = raw.get("changes")
            entries.append(Entry(MetaFeatures(**raw["dataset"]), raw["recipe"], float(raw["score"]),
                                 raw.get("description", ""), raw.get("date", ""), shipped,
                                 dict(changes) if changes is not None else None, raw.get("study")))
        except (ValueError, KeyError, TypeError):
            continue
    return entries


def record(folder: Path, data: ImageData, recipe: Recipe, score: float, base: Recipe | None = None,
           study: str | None = None) -> bool:
    """Append a finished study's dataset, best recipe (and what it changed from `base`, the default recipe
    unless given) and score to the library, unless an entry of the same `study` is there already (another
    worker of it wrote it); whether it was written."""
    entry = Entry(MetaFeatures.of(data), recipe.to_dict(), float(score), data.description,
                  datetime.now(timezone.utc).isoformat(timespec="seconds"), changes=recipe.changes_from(base or Recipe()),
                  study=study)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / FILE).open("a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # one worker at a time reads and appends (released on close)
            f.seek(0)
            if study is not None and any(_study_of(line) == study for line in f):
                return False
            f.write(json.dumps(asdict(entry)) + "\n")
            return True
    except OSError as error:
        raise AutorecipeError(f"cannot write the recipe library {folder}: {error.strerror}") from None


def _study_of(line: str) -> str | None:
    """The study a library line records (None for an older or damaged line)."""
    try:
        return json.loads(line).get("study")
    except (ValueError, AttributeError):
        return None


def nearest_recipes(folder: Path, data: ImageData, count: int = NEAREST, shipped: bool = True,
                    base: Recipe | None = None) -> list[Recipe]:
    """The best recipe of each of the `count` past datasets most similar to `data`, most similar first."""
    return [recipe for _, recipe in nearest(folder, data, count, shipped, base)]


def nearest(folder: Path, data: ImageData, count: int = NEAREST, shipped: bool = True, base: Recipe | None = None,
            same: Callable[[Recipe], Recipe] = lambda recipe: recipe) -> list[tuple[Entry, Recipe]]:
    """The library entries of the `count` past datasets most similar to `data` (the best of each), with their
    recipes for a search from `base` (the default recipe unless given), most similar first: from the library
    in `folder` and (with `shipped`) the shipped one. An entry whose recipe trains as `base` (by `same`: what
    a recipe trains, see warm_start.what_trains) is passed over."""
    base = base or Recipe()
    here = MetaFeatures.of(data)
    best: dict[MetaFeatures, Entry] = {}
    for entry in read_library(folder) + (read_shipped() if shipped else []):
        if entry.dataset not in best or entry.score > best[entry.dataset].score:
            best[entry.dataset] = entry
    found, unchanged = [], same(base)
    for entry in sorted(best.values(), key=lambda e: (here.distance(e.dataset), -e.score)):
        if len(found) == count:
            break
        try:
            recipe = entry.recipe_for(base)
        except AutorecipeError:  # a recipe from an older version with a knob that no longer exists
            continue
        if same(recipe) != unchanged:
            found.append((entry, recipe))
    return found

