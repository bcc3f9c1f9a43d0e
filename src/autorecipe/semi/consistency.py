"""FixMatch and FreeMatch: pseudo-labels from the weak view of an unlabeled image train its strong view.

FixMatch (Sohn et al., 2020) keeps a pseudo-label when its confidence reaches a fixed threshold.
FreeMatch (Wang et al., 2023) adapts the threshold: a global one, the running mean of the top
confidence (from 1/K, so early training keeps many labels and the bar rises as the model learns),
scaled per class by the running mean of that class's probability over its largest. Distribution
alignment (ReMixMatch, Berthelot et al., 2020), an option of both, first rescales the weak view's
probabilities by the labelled class shares over their running mean on unlabeled images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..knobs import Interval, Uniform, knob

CONFIDENCE_THRESHOLD = knob(
    "confidence_threshold", bucket="data", default=0.5, baseline=0.5, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.5, 0.98), when=("semi_supervised", ("fixmatch",)),
    doc="FixMatch: the confidence a pseudo-label needs to be trained on, as a share of the largest confidence "
        "the training target allows (1 - s + s/K with label smoothing s over K classes). 0.95 in the paper, after "
        "2^20 steps; in the thousand steps of a small budget so high a bar keeps few labels and FixMatch trails "
        "supervised-only, while 0.5 (FlexMatch's floor) beats it (benchmarks/RESULTS.md).",
)
THRESHOLD_MOMENTUM = knob(
    "threshold_momentum", bucket="data", default=0.99, baseline=0.99, valid=Interval(float, 0.0, 0.9999),
    search=Uniform(0.9, 0.999), when=("semi_supervised", ("freematch",)),
    doc="FreeMatch: momentum of the running confidences the thresholds follow (0.999 in the paper, after "
        "2^20 steps; a shorter memory suits the thousand steps of a small budget).",
)
ALIGNMENT_MOMENTUM = 0.99  # memory of the running mean of the unlabeled images' predicted class shares


class PseudoLabels:
    """Turns the weak view's logits into pseudo-labels and a keep mask, and keeps the running statistics."""

    def __init__(self, method: str, class_shares: torch.Tensor, *, threshold: float, momentum: float,
                 align: bool, label_smoothing: float = 0.0):
        classes = len(class_shares)
        self.method, self.momentum, self.align = method, momentum, align
        self.threshold = threshold * (1 - label_smoothing + label_smoothing / classes)  # reachable
        self.target = class_shares / class_shares.sum()
        self.predicted_shares = torch.full_like(self.target, 1.0 / classes)  # distribution alignment's
        self.global_confidence = torch.tensor(1.0 / classes, device=class_shares.device)  # FreeMatch's
        self.class_confidence = torch.full_like(self.target, 1.0 / classes)

    @torch.no_grad()
    def __call__(self, weak_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pseudo-labels, 1/0 mask) for a batch of the weak view's logits."""
        probs = weak_logits.float().softmax(1)
        if self.align:
            self.predicted_shares.lerp_(probs.mean(0), 1 - ALIGNMENT_MOMENTUM)
            probs = probs * self.target / self.predicted_shares
            probs = probs / probs.sum(1, keepdim=True)
        confidence, labels = probs.max(1)
        return labels, (confidence >= self.thresholds(probs, confidence)[labels]).float()

    def state_dict(self) -> dict:
        return {"predicted_shares": self.predicted_shares, "global_confidence": self.global_confidence,
                "class_confidence": self.class_confidence}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            getattr(self, name).copy_(value)

    def thresholds(self, probs: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
        """Each class's threshold: FixMatch's fixed one, or FreeMatch's, updated with this batch."""
        if self.method == "fixmatch":
            return torch.full_like(self.target, self.threshold)
        self.global_confidence.lerp_(confidence.mean(), 1 - self.momentum)
        self.class_confidence.lerp_(probs.mean(0), 1 - self.momentum)
        return self.global_confidence * self.class_confidence / self.class_confidence.max()


def consistency_loss(strong_logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the strong view against the kept pseudo-labels, averaged over every unlabeled image
    (kept or not, as FixMatch does: fewer kept labels mean a smaller loss)."""
    return (F.cross_entropy(strong_logits.float(), labels, reduction="none") * mask).mean()
