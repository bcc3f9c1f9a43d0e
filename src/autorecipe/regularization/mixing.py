"""Mixup and CutMix: train on blends of two images, with the labels blended in the same proportion.

Each batch is paired with itself reversed (image i with image N-1-i), as in timm; one
mixing weight lambda ~ Beta(alpha, alpha) is drawn per batch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..knobs import ON, Condition, Interval, Uniform, knob

MIXUP_ALPHA = knob(
    "mixup_alpha", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 10.0),
    search=Uniform(0.1, 1.0, off=0.0),
    doc="Mixup (Zhang et al., 2018): Beta(alpha, alpha) weight of a pixel-wise blend of two images; 0 = off.",
)
CUTMIX_ALPHA = knob(
    "cutmix_alpha", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 10.0),
    search=Uniform(0.1, 1.0, off=0.0),
    doc="CutMix (Yun et al., 2019): Beta(alpha, alpha) share of an image kept when a box of another is "
        "pasted in; 0 = off.",
)
MIX_PROB = knob(
    "mix_prob", bucket="regularization", default=1.0, baseline=1.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.3, 1.0), when=Condition((("mixup_alpha", ON), ("cutmix_alpha", ON)), any_of=True),
    doc="Probability that a batch is mixed at all (mixup or cutmix on).",
)
MIX_SWITCH_PROB = knob(
    "mix_switch_prob", bucket="regularization", default=0.5, baseline=0.5, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.0, 1.0), when=Condition((("mixup_alpha", ON), ("cutmix_alpha", ON))),
    doc="With both mixup and cutmix on: probability that a mixed batch uses cutmix rather than mixup.",
)


def mix(section, x: torch.Tensor, y: torch.Tensor, num_classes: int, rng: np.random.Generator
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch and its targets after mixup or cutmix: class indices when left unmixed, else
    class probabilities (N, K)."""
    mixup, cutmix = section.mixup_alpha, section.cutmix_alpha
    if not (mixup or cutmix) or rng.random() >= section.mix_prob:
        return x, y
    use_cutmix = cutmix > 0 and (mixup == 0 or rng.random() < section.mix_switch_prob)
    lam = float(rng.beta(cutmix, cutmix) if use_cutmix else rng.beta(mixup, mixup))
    if use_cutmix:
        x, lam = paste_box(x, lam, rng)
    else:
        x = lam * x + (1.0 - lam) * x.flip(0)
    return x, mixed_targets(y, num_classes, lam)


def mixed_targets(y: torch.Tensor, num_classes: int, lam: float) -> torch.Tensor:
    """lam * one_hot(y) + (1 - lam) * one_hot(y reversed)."""
    one_hot = F.one_hot(y, num_classes).float()
    return lam * one_hot + (1.0 - lam) * one_hot.flip(0)


def paste_box(x: torch.Tensor, lam: float, rng: np.random.Generator) -> tuple[torch.Tensor, float]:
    """Paste a box of area (1 - lam) from the reversed batch; returns the images and the exact share kept."""
    h, w = x.shape[-2:]
    cut_h, cut_w = int(h * math.sqrt(1.0 - lam)), int(w * math.sqrt(1.0 - lam))
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    out = x.clone()
    out[..., top:bottom, left:right] = x.flip(0)[..., top:bottom, left:right]
    return out, 1.0 - (bottom - top) * (right - left) / (h * w)
