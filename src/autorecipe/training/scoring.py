"""Run a classifier over batches and score its predictions."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..optimization.precision import autocast
from ..regularization.tta import tta_logits


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
    """Cross-entropy loss (no smoothing) and top-1 accuracy."""
    if len(labels) == 0:
        return {"loss": float("nan"), "accuracy": float("nan")}
    t_logits, t_labels = torch.from_numpy(logits), torch.from_numpy(labels)
    return {
        "loss": F.cross_entropy(t_logits, t_labels).item(),
        "accuracy": float((logits.argmax(1) == labels).mean()),
    }
