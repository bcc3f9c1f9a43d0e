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
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .bundle import INFERENCE, check_agreement, inference_record, read_inference
from .calibration import calibration, probabilities
from .data.dataset import ImageData, convert_arrays, load_data
from .data.images import decode_file
from .data.loader import BatchLoader
from .data.sources import check_images
from .device import choose_device
from .architecture.custom import imports_code
from .errors import AutorecipeError, UntrustedModelCode
from .files import regular, write_atomic
from .optimization.batchnorm import fold_batchnorm
from .optimization.precision import resolve_precision
from .recipe import Recipe
from .regularization.tta import TTA
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
    temperature: float | None = None  # divides the logits before the softmax; None: not calibrated

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

    def predict(self, images, top_k: int = 1, device: str | None = None,
                tta: str | None = None) -> list[list[tuple[str, float]]]:
        """The top-k (class, calibrated probability) pairs for each image (paths, or a uint8 array)."""
        return predict(self, images, top_k=top_k, device=device, tta=tta)

    def evaluate(self, data, device: str | None = None, top_k: int = 5) -> dict:
        """Accuracy, top-k accuracy, loss, calibration and per-class scores on any data source."""
        return evaluate(self, data, device=device, top_k=top_k)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities from the model's logits (N, K)."""
        return probabilities(logits, self.temperature or 1.0)

    def inference(self) -> dict:
        """What inference.json holds: the model's input and how its output becomes probabilities."""
        return inference_record(self.image_size, self.channels, self.model.normalize.mean,
                                self.model.normalize.std, self.recipe.regularization.tta, self.temperature,
                                len(self.classes))

    def save(self, path: str | Path, with_model: bool = True) -> None:
        """Write model.safetensors, inference.json, recipe.yaml, classes.json, history.csv and metrics.json."""
        path = Path(path)
        if with_model:
            self._save_weights(path)
            write_atomic(path / INFERENCE, json.dumps(self.inference(), indent=1).encode())
        else:  # never leave an older run's weights beside this run's record
            (path / "model.safetensors").unlink(missing_ok=True)
            (path / INFERENCE).unlink(missing_ok=True)
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
    def load(cls, path: str | Path, model=None, trust_model_code: bool = False) -> Run:
        """Read a run folder written by `fit`: its files are read as data, and nothing named in them is imported
        or called, unless told.

        A run trained on a model of your own (`package.module:factory`) needs that code to rebuild the
        network: pass `model` (the factory, its name, or an nn.Module of the same class, as for a run
        trained on a module object), or `trust_model_code=True` to import the factory the recipe names.
        """
        path = Path(path)
        if not (path / "model.safetensors").is_file():
            raise AutorecipeError(f"{path}: not a trained run (no model.safetensors); pass the --out folder of a fit")
        recipe = Recipe.load(path / "recipe.yaml")
        if isinstance(model, str):  # a factory named by the caller is the caller's to trust
            recipe, model = recipe.with_values({"model": model}), None
        elif model is None and imports_code(recipe.architecture.model) and not trust_model_code:
            raise UntrustedModelCode(
                f"{path}: the run's model is {recipe.architecture.model}, code from outside autorecipe, which "
                f"loading it would import and run; if you trust this folder, pass --trust-model-code "
                f"(Python: autorecipe.load(path, trust_model_code=True)), or give the model: load(path, model=...)")
        try:
            classes = json.loads(regular(path / "classes.json").read_text())
            with safe_open(regular(path / "model.safetensors"), "pt") as weights:
                metadata = weights.metadata() or {}
                state = {key: weights.get_tensor(key) for key in weights.keys()}
        except (OSError, ValueError, SafetensorError) as error:
            raise AutorecipeError(f"{path}: damaged run folder: {error}") from None
        inference = read_inference(path)
        check_agreement(path, metadata, recipe.data.image_size, recipe.data.channels, classes, state, inference)
        in_channels = state["normalize.mean"].shape[1]
        classifier = Classifier(recipe, len(classes), in_channels, recipe.data.image_size, model)
        try:
            classifier.load_state_dict(state)
        except RuntimeError as error:
            raise AutorecipeError(f"{path}: the saved weights do not fit the model: {error}") from None
        classifier.eval()
        history = _read_history(path / "history.csv")
        metrics = _read_metrics(path / "metrics.json")
        temperature = inference["temperature"] if inference and inference.get("calibrated") else None
        return cls(classifier, recipe, classes, history, metrics, path, temperature=temperature)


def _history_csv(history: list[dict]) -> str:
    """The epochs as CSV: the usual columns, then those of a method that adds its own (mask_rate, ...)."""
    extra = [k for k in dict.fromkeys(k for h in history for k in h) if k not in HISTORY_COLUMNS]
    out = io.StringIO()
    writer = csv.DictWriter(out, (*HISTORY_COLUMNS, *extra), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


def _read_metrics(path: Path) -> dict:
    """metrics.json; a damaged one is logged and read as empty (the model loads without its record)."""
    if not path.exists():
        return {}
    try:
        metrics = json.loads(regular(path).read_text())
    except (OSError, ValueError) as error:
        log.warning("%s: damaged (%s); the run's metrics are left out", path, error)
        return {}
    return metrics if isinstance(metrics, dict) else {}


def _read_history(path: Path) -> list[dict]:
    """history.csv's epochs; a damaged file is logged and read as no epochs (the model loads without them)."""
    if not path.exists():
        return []
    try:
        with regular(path).open(newline="") as f:
            return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v not in ("", None)}
                    for row in csv.DictReader(f)]
    except (OSError, ValueError, TypeError, csv.Error, UnicodeDecodeError) as error:
        log.warning("%s: damaged (%s); the run's epochs are left out", path, error)
        return []


def as_run(run: Run | str | Path, trust_model_code: bool = False) -> Run:
    """A Run, loading it when given its folder (see Run.load for `trust_model_code`)."""
    return run if isinstance(run, Run) else Run.load(run, trust_model_code=trust_model_code)


def evaluate(run: Run | str | Path, data, device: str | None = None, top_k: int = 5) -> dict:
    """Accuracy, top-k accuracy, balanced accuracy, macro-F1, loss and expected calibration error (of the
    calibrated probabilities), per-class accuracy, precision and recall, and the confusion matrix of `run` on a
    labelled source."""
    run = as_run(run)
    check_top_k(top_k)
    images = data if isinstance(data, ImageData) else load_data(data, run.image_size, run.channels)
    images = images.with_classes(run.classes)
    if len(images) == 0:
        raise AutorecipeError(f"{images.description}: no readable images to evaluate")
    raw, labels = logits_of(run, images, device)
    logits = raw / (run.temperature or 1.0)
    confusion = confusion_matrix(logits.argmax(1), labels, len(run.classes))
    support = confusion.sum(1)
    per_class = {c: float(confusion[i, i] / support[i]) for i, c in enumerate(run.classes) if support[i]}
    k = min(top_k, len(run.classes))
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return {**score(logits, labels), "top_k": k, "top_k_accuracy": float((top == labels[:, None]).any(1).mean()),
            "ece": calibration(run.probabilities(raw), labels).ece,
            "calibrated": run.temperature is not None, "count": int(len(labels)), "per_class_accuracy": per_class,
            "per_class": class_report(confusion, run.classes), "confusion": confusion.tolist(),
            "skipped": [f for f, _ in images.skipped]}


def predict(run: Run | str | Path, images, top_k: int = 1, device: str | None = None,
            tta: str | None = None) -> list[list[tuple[str, float]]]:
    """For each image, the `top_k` most likely (class, calibrated probability) pairs, most likely first.

    `images` is an image path, a list of paths, or a uint8 array (H, W[, C]) or (N, H, W[, C]); `tta`
    replaces the recipe's test-time augmentation (none, flip or flip_translate). A folder, a CSV or an .npz
    of many images, with unreadable files listed rather than raised: `autorecipe.predicting.predict_source`.
    """
    run = as_run(run)
    check_top_k(top_k)
    x = _decode(images, run.image_size, run.channels == "gray")
    data = ImageData(x, np.arange(len(x)), np.zeros(len(x), dtype=np.int64), run.classes)
    logits, _ = logits_of(run, data, device, tta)
    return top_classes(run, run.probabilities(logits), top_k)


def check_top_k(top_k: int) -> None:
    """A top-k must ask for at least one class."""
    if top_k < 1:
        raise AutorecipeError(f"--top-k {top_k}: must be at least 1")


def top_classes(run: Run, probs: np.ndarray, top_k: int) -> list[list[tuple[str, float]]]:
    """Per row of class probabilities, the `top_k` most likely (class, probability) pairs."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :min(top_k, len(run.classes))]
    return [[(run.classes[i], float(row[i])) for i in ranks] for row, ranks in zip(probs, order)]


def logits_of(run: Run, data: ImageData, device: str | None = None, tta: str | None = None,
              batch_size: int = BATCH, model: torch.nn.Module | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The run's logits (N, K) and the labels (N,) of `data`, in batches of `batch_size` on `device`, with the
    recipe's test-time augmentation or `tta`; `model`: the run's inference_model for `device`, when made already."""
    dev = choose_device(device)
    opt = run.recipe.optimization
    batches = BatchLoader(data, dev, batch_size, shuffle=False)
    return predict_logits(model or inference_model(run, dev), batches, dev, resolve_precision(opt, dev),
                          opt.channels_last, TTA.validate(tta) if tta else run.recipe.regularization.tta)


def inference_model(run: Run, device: torch.device) -> torch.nn.Module:
    """The run's model ready for batches on `device`, in the recipe's memory layout; in float32, a copy with its
    batch norms folded into the convolutions (faster, the same outputs within float rounding)."""
    opt = run.recipe.optimization
    layout = torch.channels_last if opt.channels_last else torch.contiguous_format
    model = fold_batchnorm(run.model) if resolve_precision(opt, device) == "fp32" else run.model
    return model.to(device=device, memory_format=layout)


def _decode(images, size: int, gray: bool) -> np.ndarray:
    """Paths or arrays to a (N, C, size, size) uint8 array."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise AutorecipeError(f"images must be uint8 (0..255), got {images.dtype}")
        single = images.ndim == 2 or (images.ndim == 3 and images.shape[2] in (1, 3, 4))
        return convert_arrays(check_images(images[None] if single else images, "images"), size, gray)
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
