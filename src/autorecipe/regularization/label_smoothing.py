"""Label smoothing: the training loss against a target mixed with the uniform distribution."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..knobs import Interval, Uniform, knob

LABEL_SMOOTHING = knob(
    "label_smoothing", bucket="regularization", default=0.1, baseline=0.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.0, 0.3),
    doc="Mix the one-hot target with a uniform one by this weight (Szegedy et al., 2016).",
)


def training_loss(section, logits: torch.Tensor, targets: torch.Tensor,
                  class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of `logits` against class indices (N,) or class probabilities (N, K),
    with the recipe's label smoothing and, when given, per-class weights (the data bucket's balancing)."""
    return F.cross_entropy(logits.float(), targets, weight=class_weights, label_smoothing=section.label_smoothing)
