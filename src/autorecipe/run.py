"""A trained run: the model with its recipe, classes, history and metrics; saved to and loaded from a folder."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load, save

from .errors import AutorecipeError
from .files import write_atomic
from .model import Classifier
from .recipe import Recipe

FORMAT_VERSION = "1"
HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                   "lr", "images_per_second", "seconds")


@dataclass
class Run:
    """A trained classifier and its record. `fit` returns one; `Run.load(folder)` reads one back."""

    model: Classifier
    recipe: Recipe
    classes: list[str]
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def image_size(self) -> int:
        return self.recipe.data.image_size

    @property
    def channels(self) -> str:
        return self.recipe.data.channels

    def predict(self, images, top_k: int = 1, device: str | None = None) -> list[list[tuple[str, float]]]:
        """The top-k (class, probability) pairs for each image (paths, or a uint8 array)."""
        from .prediction import predict
        return predict(self, images, top_k=top_k, device=device)

    def evaluate(self, data, device: str | None = None) -> dict:
        """Accuracy, loss and per-class accuracy on any data source."""
        from .prediction import evaluate
        return evaluate(self, data, device=device)

    def save(self, path: str | Path, with_model: bool = True) -> None:
        """Write model.safetensors, recipe.yaml, classes.json, history.csv and metrics.json."""
        path = Path(path)
        if with_model:
            self._save_weights(path)
        else:  # never leave an older run's weights beside this run's record
            (path / "model.safetensors").unlink(missing_ok=True)
        self.recipe.save(path / "recipe.yaml")
        write_atomic(path / "classes.json", json.dumps(self.classes, indent=1).encode())
        write_atomic(path / "history.csv", _history_csv(self.history).encode())
        write_atomic(path / "metrics.json", json.dumps(self.metrics, indent=2).encode())
        self.path = path

    def _save_weights(self, path: Path) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        metadata = {"format": FORMAT_VERSION, "num_classes": str(len(self.classes)),
                    "in_channels": str(self.model.normalize.mean.shape[1]), "image_size": str(self.image_size)}
        write_atomic(path / "model.safetensors", save(state, metadata))

    @classmethod
    def load(cls, path: str | Path, model=None) -> Run:
        """Read a run folder written by `fit` (weights are loaded as data, never as code).

        `model` is the nn.Module (or factory) to load the weights into, for a run trained on
        a module object passed to `fit`.
        """
        path = Path(path)
        if not (path / "model.safetensors").is_file():
            raise AutorecipeError(f"{path}: not a trained run (no model.safetensors); pass the --out folder of a fit")
        recipe = Recipe.load(path / "recipe.yaml")
        try:
            classes = json.loads((path / "classes.json").read_text())
            state = load((path / "model.safetensors").read_bytes())
        except (OSError, ValueError, SafetensorError) as error:
            raise AutorecipeError(f"{path}: damaged run folder: {error}") from None
        in_channels = state["normalize.mean"].shape[1]
        classifier = Classifier(recipe, len(classes), in_channels, recipe.data.image_size, model)
        try:
            classifier.load_state_dict(state)
        except RuntimeError as error:
            raise AutorecipeError(f"{path}: the saved weights do not fit the model: {error}") from None
        classifier.eval()
        history = _read_history(path / "history.csv")
        metrics = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").exists() else {}
        return cls(classifier, recipe, classes, history, metrics, path)


def _history_csv(history: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


def _read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)]


def as_run(run: Run | str | Path) -> Run:
    """A Run, loading it when given its folder."""
    return run if isinstance(run, Run) else Run.load(run)
