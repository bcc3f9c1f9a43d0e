"""The training loss: cross-entropy against a target mixed with the uniform distribution (label smoothing),
or a loss that tolerates wrong labels (symmetric or generalized cross-entropy)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..knobs import Choice, Interval, Options, Uniform, knob

LOSSES = ("cross_entropy", "symmetric_ce", "generalized_ce")
SCE_ALPHA, SCE_BETA, SCE_LOG_ZERO = 1.0, 1.0, -4.0  # Wang et al., 2019: log 0 taken as A = -4
GCE_Q = 0.7  # Zhang and Sabuncu, 2018

LABEL_SMOOTHING = knob(
    "label_smoothing", bucket="regularization", default=0.1, baseline=0.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.0, 0.3),
    doc="Mix the one-hot target with a uniform one by this weight (Szegedy et al., 2016).",
)
LOSS = knob(
    "loss", bucket="regularization", default="cross_entropy", baseline="cross_entropy", valid=Options(LOSSES),
    search=Choice(LOSSES),
    doc="The training loss: cross_entropy; symmetric_ce (cross-entropy plus reverse cross-entropy, Wang et "
        "al., 2019) or generalized_ce ((1 - p^0.7) / 0.7, between cross-entropy and mean absolute error, Zhang "
        "and Sabuncu, 2018), which learn less from the examples the model confidently disagrees with: for "
        "noisy labels.",
)


def training_loss(section, logits: torch.Tensor, targets: torch.Tensor,
                  class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean loss of `logits` against class indices (N,) or class probabilities (N, K), with the recipe's
    loss and label smoothing and, when given, per-class weights (the data bucket's balancing)."""
    logits = logits.float()
    if section.loss == "cross_entropy":
        return F.cross_entropy(logits, targets, weight=class_weights, label_smoothing=section.label_smoothing)
    classes = logits.shape[1]
    target = F.one_hot(targets, classes).float() if targets.dim() == 1 else targets.float()
    target = target * (1 - section.label_smoothing) + section.label_smoothing / classes
    log_p = F.log_softmax(logits, dim=1)
    p = log_p.exp()
    if section.loss == "symmetric_ce":
        reverse = -(p * target.clamp_min(math.exp(SCE_LOG_ZERO)).log()).sum(dim=1)
        per_example = SCE_ALPHA * -(target * log_p).sum(dim=1) + SCE_BETA * reverse
    else:
        per_example = (target * (1 - p.clamp_min(1e-12) ** GCE_Q) / GCE_Q).sum(dim=1)
    if class_weights is not None:
        per_example = per_example * (target @ class_weights)
    return per_example.mean()
