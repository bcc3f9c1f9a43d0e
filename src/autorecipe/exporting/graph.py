"""The deployed model: uint8 images in, calibrated class probabilities out, every step inside the graph."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..regularization.tta import tta_logits


class Deployed(nn.Module):
    """(N, H, W, C) uint8 images at the model's input size -> (N, K) float32 probabilities.

    Inside: the channels moved first, pixels scaled to [0, 1], the classifier (whose first layer is the
    per-channel normalization), the recipe's test-time augmentation, and the softmax of the logits divided
    by the calibration temperature. Decoding, cropping and resizing to the input size stay outside.
    """

    def __init__(self, classifier: nn.Module, temperature: float, tta: str):
        super().__init__()
        self.classifier, self.tta = classifier, tta
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float() / 255.0
        return torch.softmax(tta_logits(self.classifier, x, self.tta) / self.temperature, dim=1)


def deployed(run) -> Deployed:
    """A copy of the run's model as a float32 CPU module in evaluation mode, ready to trace (the run's own model
    stays where it is)."""
    classifier = copy.deepcopy(run.model).to(device="cpu", dtype=torch.float32, memory_format=torch.contiguous_format)
    return Deployed(classifier.eval(), run.temperature or 1.0, run.recipe.regularization.tta).eval()
