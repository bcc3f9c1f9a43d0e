"""Test-time augmentation: average the predictions over flipped and slightly shifted copies of each image.

Used wherever the model is scored: validation during training, `evaluate` and `predict`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..knobs import Choice, Options, knob

TTA = knob(
    "tta", bucket="regularization", default="none", baseline="none",
    valid=Options(("none", "flip", "flip_translate")), search=Choice(("none", "flip", "flip_translate")),
    doc="Test-time augmentation: none; flip (the image and its mirror); flip_translate (each of those also "
        "shifted by 1/32 of the side, at least a pixel, down-right and up-left: 6 views).",
)


def views(tta: str, x: torch.Tensor) -> list[torch.Tensor]:
    """The copies of batch `x` that `tta` averages over (the first is `x` itself)."""
    if tta == "none":
        return [x]
    pair = [x, x.flip(-1)]
    if tta == "flip":
        return pair
    d = max(1, round(int(x.shape[-1]) / 32))  # int(): a traced (exported) graph's sizes are tensors
    return [v for image in pair for v in (image, shift(image, d), shift(image, -d))]


def shift(x: torch.Tensor, d: int) -> torch.Tensor:
    """Translate images by `d` pixels along both axes (positive: down and right), reflecting at the border."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (abs(d),) * 4, mode="reflect")
    top = abs(d) - d
    return padded[..., top:top + h, top:top + w]


def tta_logits(model: nn.Module, x: torch.Tensor, tta: str) -> torch.Tensor:
    """The model's logits, or with views the log of their mean predicted probabilities."""
    outputs = [model(v) for v in views(tta, x)]
    if len(outputs) == 1:
        return outputs[0]
    probs = torch.stack([o.float().softmax(1) for o in outputs]).mean(0)
    return probs.clamp_min(1e-12).log()
