"""A fit's record of itself (fit.json): how it was called and its status (`running` until it ends, so a killed
fit is recognisable), and what `fit --resume` takes from it: the saved arguments, any given again checked
against them (a change is refused: the resumed fit would train something else)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .errors import AutorecipeError
from .files import regular, write_atomic

RECORD = "fit.json"
CHECKPOINT = "checkpoint.pt"
RESUMABLE = ("running", "interrupted")
SOURCES = ("data", "val", "test", "unlabeled", "unlabeled_labels")


def identity(source):
    """What names a data source in the record: an absolute path, a built-in name, a digest of arrays, or None."""
    if source is None:
        return None
    if isinstance(source, (str, Path)):
        path = Path(source)
        return str(path.resolve()) if path.exists() else str(source)
    digest = hashlib.blake2b(digest_size=16)
    for part in source if isinstance(source, (tuple, list)) else (source,):
        array = np.ascontiguousarray(np.asarray(part))
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    return {"arrays": digest.hexdigest()}


def plain(value):
    """`value` as JSON gives it back (tuples as lists), so a record and a call compare alike."""
    return json.loads(json.dumps(value, default=str))


class FitRecord:
    """fit.json of a run folder: {"status", "arguments", "recipe" (as trained, once known)}."""

    def __init__(self, folder: Path, arguments: dict, status: str = "running", recipe: dict | None = None):
        self.folder, self.arguments, self.status, self.recipe = Path(folder), plain(arguments), status, recipe

    @classmethod
    def read(cls, folder: Path) -> FitRecord:
        """The record of the fit in `folder`, which must be one that can resume."""
        path = Path(folder) / RECORD
        if not Path(folder).is_dir():
            raise AutorecipeError(f"--resume {folder}: no such folder")
        if not path.is_file():
            raise AutorecipeError(f"--resume {folder}: it holds no {RECORD}, so no fit to resume (a fit writes one "
                                  f"as it starts)")
        try:
            saved = json.loads(regular(path).read_text())
            record = cls(folder, saved["arguments"], saved["status"], saved.get("recipe"))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise AutorecipeError(f"--resume {folder}: {RECORD} is damaged ({error})") from None
        if record.status not in RESUMABLE:
            raise AutorecipeError(f"--resume {folder}: its fit ended (status {record.status}); nothing to resume. "
                                  f"Start a new fit with another --out")
        return record

    def write(self) -> None:
        body = {"status": self.status, "arguments": self.arguments, **({"recipe": self.recipe} if self.recipe else {})}
        write_atomic(self.folder / RECORD, json.dumps(body, indent=1).encode())

    def merged(self, given: dict, defaults: dict) -> dict:
        """The saved arguments, checked against those given again: an argument left at its default takes the
        saved value; one given with another value is an error."""
        given, defaults = plain(given), plain(defaults)
        changed = [name for name, value in given.items()
                   if value != defaults.get(name) and value != self.arguments.get(name)]
        if changed:
            details = "; ".join(_change(name, given[name], self.arguments.get(name)) for name in changed)
            raise AutorecipeError(f"--resume {self.folder}: changed argument(s): {details}. A resumed fit continues "
                                  f"the same training: leave them out, or start a new fit with another --out")
        missing = [name for name in SOURCES if isinstance(self.arguments.get(name), dict) and given.get(name) is None]
        if missing:
            raise AutorecipeError(f"--resume {self.folder}: the run's {', '.join(missing)} were arrays, which a run "
                                  f"folder does not keep; pass the same arrays again")
        return self.arguments


def _change(name: str, given, saved) -> str:
    """One changed argument in words; a recipe by the knobs that differ."""
    if name == "recipe":
        knobs = {f"{section}.{knob}": (value, saved.get(section, {}).get(knob))
                 for section, values in given.items() for knob, value in values.items()}
        return "recipe: " + ", ".join(f"{knob} {new!r} (the run's: {old!r})" for knob, (new, old) in knobs.items()
                                      if new != old)
    return f"{name}: {_shown(given)} (the run's: {_shown(saved)})"


def _shown(value) -> str:
    return "arrays" if isinstance(value, dict) and set(value) == {"arrays"} else repr(value)
