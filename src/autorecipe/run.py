"""A trained run: the model with its recipe, classes, history and metrics; saved to and loaded from a
folder, evaluated on labelled data and used to predict the classes of new images."""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from .data.dataset import ImageData, convert_arrays, load_data
from .data.images import decode_file
from .data.loader import BatchLoader
from .device import choose_device
from .errors import AutorecipeError
from .files import write_atomic
from .optimization.precision import resolve_precision
from .recipe import Recipe
from .training.classifier import Classifier
from .training.scoring import class_report, confusion_matrix, predict_logits, score

log = logging.getLogger("autorecipe")

FORMAT_VERSION = "1"
BATCH = 256  # images per batch when evaluating and predicting
HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy",
                   "val_macro_f1", "lr", "images_per_second", "seconds")


@dataclass
class Run:
    """A trained classifier and its record. `fit` returns one; `Run.load(folder)` reads one back."""

    model: Classifier
    recipe: Recipe
    classes: list[str]
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    path: Path | None = None
    val_correct: np.ndarray | None = field(default=None, repr=False)  # per validation image, right or not (fit's)

    def __repr__(self) -> str:
        accuracy = self.metrics.get("val_accuracy")
        scored = f", val_accuracy={accuracy:.4f}" if accuracy is not None else ""
        return (f"Run({self.recipe.architecture.model}, {len(self.classes)} classes, {self.image_size}px "
                f"{self.channels}{scored}, path={str(self.path) if self.path else None!r})")

    @property
    def image_size(self) -> int:
        return self.recipe.data.image_size

    @property
    def channels(self) -> str:
        return self.recipe.data.channels

    def predict(self, images, top_k: int = 1, device: str | None = None) -> list[list[tuple[str, float]]]:
        """The top-k (class, probability) pairs for each image (paths, or a uint8 array)."""
        return predict(self, images, top_k=top_k, device=device)

    def evaluate(self, data, device: str | None = None) -> dict:
        """Accuracy, loss and per-class accuracy on any data source."""
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
    """The epochs as CSV: the usual columns, then those of a method that adds its own (mask_rate, ...)."""
    extra = [k for k in dict.fromkeys(k for h in history for k in h) if k not in HISTORY_COLUMNS]
    out = io.StringIO()
    writer = csv.DictWriter(out, (*HISTORY_COLUMNS, *extra), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


def _read_history(path: Path) -> list[dict]:
    """history.csv's epochs; a damaged file is logged and read as no epochs (the model loads without them)."""
    if not path.exists():
        return []
    try:
        with path.open(newline="") as f:
            return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v not in ("", None)}
                    for row in csv.DictReader(f)]
    except (OSError, ValueError, TypeError, csv.Error, UnicodeDecodeError) as error:
        log.warning("%s: damaged (%s); the run's epochs are left out", path, error)
        return []


def as_run(run: Run | str | Path) -> Run:
    """A Run, loading it when given its folder."""
    return run if isinstance(run, Run) else Run.load(run)


def evaluate(run: Run | str | Path, data, device: str | None = None) -> dict:
    """Accuracy, balanced accuracy, macro-F1, loss, per-class accuracy, precision and recall, and the confusion
    matrix of `run` on a labelled source."""
    run = as_run(run)
    images = data if isinstance(data, ImageData) else load_data(data, run.image_size, run.channels)
    images = images.with_classes(run.classes)
    if len(images) == 0:
        raise AutorecipeError(f"{images.description}: no readable images to evaluate")
    logits, labels = logits_of(run, images, device)
    confusion = confusion_matrix(logits.argmax(1), labels, len(run.classes))
    support = confusion.sum(1)
    per_class = {c: float(confusion[i, i] / support[i]) for i, c in enumerate(run.classes) if support[i]}
    return {**score(logits, labels), "count": int(len(labels)), "per_class_accuracy": per_class,
            "per_class": class_report(confusion, run.classes), "confusion": confusion.tolist(),
            "skipped": [f for f, _ in images.skipped]}


def predict(run: Run | str | Path, images, top_k: int = 1, device: str | None = None) -> list[list[tuple[str, float]]]:
    """For each image, the `top_k` most likely (class, probability) pairs, most likely first.

    `images` is an image path, a list of paths, or a uint8 array (H, W[, C]) or (N, H, W[, C]).
    """
    run = as_run(run)
    if top_k < 1:
        raise AutorecipeError(f"--top-k {top_k}: must be at least 1")
    x = _decode(images, run.image_size, run.channels == "gray")
    data = ImageData(x, np.arange(len(x)), np.zeros(len(x), dtype=np.int64), run.classes)
    logits, _ = logits_of(run, data, device)
    probs = torch.softmax(torch.from_numpy(logits), dim=1)
    top = probs.topk(min(top_k, len(run.classes)), dim=1)
    return [[(run.classes[i], float(p)) for p, i in zip(ps.tolist(), ix.tolist())]
            for ps, ix in zip(top.values, top.indices)]


def logits_of(run: Run, data: ImageData, device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The run's logits (N, K) and the labels (N,) of `data`, batched on `device` (with the recipe's TTA)."""
    dev = choose_device(device)
    model = run.model.to(dev)
    opt = run.recipe.optimization
    batches = BatchLoader(data, dev, BATCH, shuffle=False)
    return predict_logits(model, batches, dev, resolve_precision(opt, dev), opt.channels_last,
                          run.recipe.regularization.tta)


def _decode(images, size: int, gray: bool) -> np.ndarray:
    """Paths or arrays to a (N, C, size, size) uint8 array."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise AutorecipeError(f"images must be uint8 (0..255), got {images.dtype}")
        single = images.ndim == 2 or (images.ndim == 3 and images.shape[2] in (1, 3, 4))
        return convert_arrays(images[None] if single else images, size, gray)
    paths = [images] if isinstance(images, (str, Path)) else list(images)
    if not paths:
        raise AutorecipeError("no images given to predict")
    arrays = []
    for path in paths:
        try:
            arrays.append(decode_file(str(path), size, gray))
        except FileNotFoundError:
            raise AutorecipeError(f"{path}: no such image file") from None
        except Exception as error:
            raise AutorecipeError(f"{path}: cannot read the image ({type(error).__name__}: {error})") from None
    return np.stack(arrays)
