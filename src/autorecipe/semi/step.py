"""The FixMatch and FreeMatch part of a training step (a training.auxiliary objective): the two views of
each unlabeled image, the pseudo-labels and their weighted loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from kornia.augmentation.auto import RandAugment
from torch import nn

from ..data.dataset import ImageData
from ..recipe import Recipe
from ..regularization.augment import build_augmentation
from ..regularization.erasing import Cutout
from ..regularization.policies import GrayAsRgb
from .consistency import PseudoLabels, consistency_loss
from .methods import CONSISTENCY_METHODS

STRONG_OPS, STRONG_MAGNITUDE, STRONG_CUTOUT = 2, 10, 0.5  # FixMatch's strong view: RandAugment, then cutout
WEAK_ONLY = {"policy": "none", "cutout": 0.0, "random_erasing": 0.0, "color_jitter": 0.0, "resized_crop": 0.0}


@dataclass
class SemiStep:
    """The unlabeled half of a FixMatch or FreeMatch step: weak and strong views, pseudo-labels, their loss."""

    weak: nn.Module
    strong: nn.Module
    pseudo: PseudoLabels
    weight: float
    warmup: float
    ratio: int
    sums: torch.Tensor | None = None  # since the last epoch_metrics: images, kept, kept with a true label, right

    def views(self, u: torch.Tensor) -> torch.Tensor:
        """The weak and the strong view of a batch of unlabeled images, one after the other."""
        return torch.cat([self.weak(u), self.strong(u)])

    def loss(self, view_logits: torch.Tensor, progress: float, truth: torch.Tensor) -> torch.Tensor:
        """The weighted consistency loss from the views' logits (weak first); counts kept pseudo-labels and,
        where `truth` holds a true label (>= 0), right ones (on the device: no sync a step)."""
        weak_logits, strong_logits = view_logits.chunk(2)
        labels, mask = self.pseudo(weak_logits.detach())
        known = (truth >= 0).float()
        batch = torch.stack([torch.ones_like(mask).sum(), mask.sum(), (mask * known).sum(),
                             (mask * known * (labels == truth).float()).sum()])
        self.sums = batch if self.sums is None else self.sums + batch
        ramp = min(1.0, progress / self.warmup) if self.warmup else 1.0
        return self.weight * ramp * consistency_loss(strong_logits, labels, mask)

    def state_dict(self) -> dict:
        """The running statistics a checkpoint keeps (thresholds, alignment, this epoch's counts)."""
        return {"pseudo": self.pseudo.state_dict(), "sums": self.sums}

    def load_state_dict(self, state: dict) -> None:
        self.pseudo.load_state_dict(state["pseudo"])
        self.sums = state["sums"].to(self.pseudo.target.device) if state["sums"] is not None else None

    def epoch_metrics(self) -> dict:
        """The mask rate (share of unlabeled images whose pseudo-label was kept) since the last call, and the
        kept pseudo-labels' accuracy where true labels were given."""
        if self.sums is None:
            return {"mask_rate": 0.0}
        images, kept, labelled, right = self.sums.tolist()
        self.sums = None
        metrics = {"mask_rate": kept / images if images else 0.0}
        if labelled:
            metrics["pseudo_label_accuracy"] = right / labelled
        return metrics


def build_semi_step(recipe: Recipe, train_data: ImageData, device: torch.device) -> SemiStep:
    """The step of a recipe whose semi_supervised is fixmatch or freematch (its hflip resolved)."""
    data = recipe.data
    if data.semi_supervised not in CONSISTENCY_METHODS:
        raise ValueError(f"semi_supervised {data.semi_supervised!r} has no training step of its own")
    weak = build_augmentation(recipe.with_values(WEAK_ONLY).regularization, train_data.image_size).to(device)
    strong = nn.Sequential(*weak, GrayAsRgb(RandAugment(STRONG_OPS, STRONG_MAGNITUDE)), Cutout(STRONG_CUTOUT))
    strong.to(device)
    counts = torch.as_tensor(train_data.class_counts(), device=device).float()
    pseudo = PseudoLabels(data.semi_supervised, counts, threshold=data.confidence_threshold,
                          momentum=data.threshold_momentum, align=data.distribution_alignment,
                          label_smoothing=recipe.regularization.label_smoothing)
    return SemiStep(weak, strong, pseudo, data.unlabeled_weight, data.unlabeled_warmup, data.unlabeled_ratio)
