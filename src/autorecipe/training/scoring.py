"""Run a classifier over batches and score its predictions."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.balance import IMBALANCED, imbalance_ratio
from ..errors import AutorecipeError
from ..optimization.precision import autocast
from ..regularization.tta import tta_logits

METRICS = ("accuracy", "balanced_accuracy", "macro_f1")  # what chooses the kept epoch and scores a trial


def resolve_metric(metric: str, counts: np.ndarray) -> str:
    """The validation metric to train and search by: `metric`, or for auto balanced accuracy on imbalanced
    training classes (`counts`) and accuracy on balanced ones."""
    if metric == "auto":
        return "balanced_accuracy" if imbalance_ratio(counts) >= IMBALANCED else "accuracy"
    if metric not in METRICS:
        raise AutorecipeError(f"metric {metric!r}: expected auto or one of {', '.join(METRICS)}")
    return metric


def layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Put a batch in the memory layout the model was built for."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def predict_logits(model: torch.nn.Module, batches, device: torch.device, precision: str,
                   channels_last: bool, tta: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Float32 logits (N, K) and labels (N,) for every batch, in order, with test-time augmentation `tta`."""
    model.eval()
    logits, labels = [], []
    for x, y in batches:
        with autocast(device, precision):
            out = tta_logits(model, layout(x, channels_last), tta)
        logits.append(out.float().cpu())
        labels.append(y.cpu())
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


def score(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Cross-entropy loss (no smoothing), top-1 accuracy, balanced accuracy and macro-F1."""
    if len(labels) == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "balanced_accuracy": float("nan"),
                "macro_f1": float("nan")}
    t_logits, t_labels = torch.from_numpy(logits), torch.from_numpy(labels)
    confusion = confusion_matrix(logits.argmax(1), labels, logits.shape[1])
    return {
        "loss": F.cross_entropy(t_logits, t_labels).item(),
        "accuracy": float((logits.argmax(1) == labels).mean()),
        **balanced_scores(confusion),
    }


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (K, K): row = true class, column = predicted class."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    return confusion


def balanced_scores(confusion: np.ndarray) -> dict[str, float]:
    """Balanced accuracy (the mean recall over the classes that occur) and macro-F1 (the mean F1 over the
    classes that occur or are predicted), as scikit-learn defines them."""
    per = per_class_scores(confusion)
    true, predicted = confusion.sum(1), confusion.sum(0)
    return {"balanced_accuracy": float(per["recall"][true > 0].mean()),
            "macro_f1": float(per["f1"][(true > 0) | (predicted > 0)].mean())}


def per_class_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per class: precision, recall, F1 (0 where undefined) and support (its true images)."""
    hits, true, predicted = np.diag(confusion).astype(float), confusion.sum(1), confusion.sum(0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, true, out=np.zeros_like(hits), where=true > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": true}


def class_report(confusion: np.ndarray, classes: list[str]) -> dict[str, dict[str, float]]:
    """Per class name (those with images or predictions): precision, recall, F1 and support, for metrics.json."""
    per = per_class_scores(confusion)
    return {name: {"precision": float(per["precision"][i]), "recall": float(per["recall"][i]),
                   "f1": float(per["f1"][i]), "support": int(per["support"][i])}
            for i, name in enumerate(classes) if per["support"][i] or confusion[:, i].sum()}
