"""Batched image augmentation on the training device (kornia)."""

from __future__ import annotations

import kornia.augmentation as K
from torch import nn

from ..knobs import Choice, Uniform, knob

HFLIP = knob(
    "hflip", bucket="regularization", default=True, baseline=False, search=Choice((True, False)),
    doc="Mirror half of the training images left to right.",
)
TRANSLATE = knob(
    "translate", bucket="regularization", default=0.125, baseline=0.0, low=0.0, high=0.5,
    search=Uniform(0.0, 0.25),
    doc="Pad-and-crop translation: reflect-pad by this fraction of the image side, then crop back at random.",
)


def build_augmentation(section, image_size: int) -> nn.Module:
    """The training-time augmentation for a recipe's regularization section (float images in [0, 1])."""
    steps: list[nn.Module] = []
    if section.hflip:
        steps.append(K.RandomHorizontalFlip())
    padding = int(round(section.translate * image_size))
    if padding:
        steps.append(K.RandomCrop((image_size, image_size), padding=padding, padding_mode="reflect"))
    return nn.Sequential(*steps)
