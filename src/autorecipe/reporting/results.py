"""What a trained model gets right and wrong on its validation images: the confusion matrix, the most-confused
pairs, per-class accuracy, calibration, and the highest-loss images with where the model looked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..calibration import calibration
from ..data.dataset import ImageData
from ..run import Run, logits_of
from .saliency import saliency

HIGHEST_LOSS = 8  # validation images shown with their saliency
CONFUSED_PAIRS = 5


@dataclass
class Results:
    """The numbers of the results section (to_dict: summary.json) and the images it shows."""

    images: int
    accuracy: float
    confusion: np.ndarray
    per_class: dict[str, float | None]
    confused: list[dict]
    calibration: dict
    worst: list[dict]  # each: index, label, predicted, loss, confidence, image (C, S, S uint8), map (S, S)
    saliency_method: str

    def to_dict(self) -> dict:
        return {"images": self.images, "accuracy": self.accuracy, "confusion": self.confusion.tolist(),
                "per_class_accuracy": self.per_class, "most_confused": self.confused,
                "calibration": self.calibration, "saliency": self.saliency_method,
                "highest_loss": [{k: v for k, v in w.items() if k not in ("image", "map")} for w in self.worst]}


def results(run: Run, data: ImageData, device: str | None = None) -> Results:
    """Score `run` on `data` (its validation images) and explain its highest-loss images."""
    data = data.with_classes(run.classes)
    logits, labels = logits_of(run, data, device)
    probabilities = run.probabilities(logits)  # calibrated, as predict gives them
    predicted = probabilities.argmax(1)
    losses = -np.log(np.maximum(probabilities[np.arange(len(labels)), labels], 1e-12))
    k = len(run.classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    support = confusion.sum(1)
    per_class = {c: (float(confusion[i, i] / support[i]) if support[i] else None) for i, c in enumerate(run.classes)}
    off = [(int(confusion[i, j] + confusion[j, i]), i, j) for i in range(k) for j in range(i + 1, k)]
    confused = [{"classes": [run.classes[i], run.classes[j]], "count": n,
                 "first_as_second": int(confusion[i, j]), "second_as_first": int(confusion[j, i])}
                for n, i, j in sorted(off, reverse=True)[:CONFUSED_PAIRS] if n]
    worst_index = np.argsort(-losses, kind="stable")[:HIGHEST_LOSS]
    worst, method = _explained(run, data, worst_index, labels, predicted, losses, probabilities)
    return Results(len(labels), float((predicted == labels).mean()), confusion, per_class, confused,
                   {**calibration(probabilities, labels).to_dict(), "temperature": run.temperature}, worst, method)


def _explained(run: Run, data: ImageData, index: np.ndarray, labels, predicted, losses,
               probabilities) -> tuple[list[dict], str]:
    """The images at `index` with their saliency maps for the class they belong to (on the CPU: a few images)."""
    if not len(index):
        return [], "none"
    pixels = data.x[data.rows[index]]
    images = torch.from_numpy(np.ascontiguousarray(pixels)).float() / 255
    model = run.model.to("cpu").float()
    maps, method = saliency(model, images, torch.from_numpy(labels[index]).long())
    worst = [{"index": int(i), "label": run.classes[labels[i]], "predicted": run.classes[predicted[i]],
              "loss": float(losses[i]), "confidence": float(probabilities[i, predicted[i]]),
              "image": pixels[n], "map": maps[n]} for n, i in enumerate(index)]
    return worst, method
