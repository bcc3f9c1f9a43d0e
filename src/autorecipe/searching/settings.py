"""A search's settings: given for a new search, saved as search.json, read back on --resume."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import AutorecipeError
from ..files import regular, write_atomic

FILE = "search.json"


@dataclass
class SearchSettings:
    """What a search was asked to do; a resumed search or a second worker uses these, not its own arguments
    (the budget excepted: a new one may be given). Fields with defaults were added after 0.1.0."""

    recipe: dict  # the base recipe, section by section
    fixed: list[str]  # knobs --set fixed (they leave the space)
    space: dict | None  # a space file's entries
    buckets: list[str] | None
    sampler: str
    pruner: str
    min_epochs: int | None
    cv: int | None
    storage: str | None  # an Optuna storage URL; None: a journal file in the search folder
    study_name: str
    seed: int
    budget: str | None
    val_fraction: float
    library: str | bool | None = None  # a library folder, None (the default one) or False (none)
    shipped_library: bool = True  # read the library the package ships too
    warm_start: bool | str = True  # True, "base" (the base recipe alone) or False
    retrain: bool = True
    retrain_on_all: bool = False
    unlabeled: str | None = None  # the unlabeled images' path, "arrays", or None (the semi knobs leave the space)
    ignore_unlabeled_labels: bool = False
    metric: str = "accuracy"  # what a trial scores (training.scoring.METRICS; auto resolved on the training images)

    def save(self, folder: Path) -> None:
        write_atomic(folder / FILE, json.dumps(asdict(self), indent=1).encode())

    @classmethod
    def load(cls, folder: Path) -> SearchSettings:
        """The settings saved in a search folder (an error that names the folder if there are none)."""
        path = folder / FILE
        if not path.exists():
            raise AutorecipeError(f"{folder}: not a search folder (no {FILE}); pass the --out of a search")
        try:
            saved: dict[str, Any] = json.loads(regular(path).read_text())
            return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved or f.default is MISSING})
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise AutorecipeError(f"{path}: damaged search settings ({type(error).__name__}: {error})") from None

    @classmethod
    def for_search(cls, folder: Path, resume: bool, given: SearchSettings) -> SearchSettings:
        """As given for a new search; as saved in `folder` on resume."""
        if resume:
            if not (folder / FILE).exists():
                raise AutorecipeError(f"{folder}: no search to resume (no {FILE}); start one without --resume")
            return cls.load(folder)
        if (folder / FILE).exists():
            raise AutorecipeError(f"{folder} already holds a search; pass --resume to continue it or choose "
                                  "another --out")
        return given
