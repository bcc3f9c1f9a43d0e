"""The training-time augmentation pipeline, batched on the device; flips and crops are declared here.

Order: random-resized crop, flip, pad-and-crop translation, colour jitter, the automatic
policy, random erasing, cutout. Each step is skipped when its knob is off.
"""

from __future__ import annotations

import kornia.augmentation as K
from torch import nn

from ..knobs import Choice, Interval, Uniform, knob
from .color_jitter import ColorJitter
from .erasing import Cutout
from .policies import build_policy

HFLIP = knob(
    "hflip", bucket="regularization", default=True, baseline=False, search=Choice((True, False)),
    doc="Mirror half of the training images left to right.",
)
TRANSLATE = knob(
    "translate", bucket="regularization", default=0.125, baseline=0.0, valid=Interval(float, 0.0, 0.5),
    search=Uniform(0.0, 0.25),
    doc="Pad-and-crop translation: reflect-pad by this fraction of the image side, then crop back at random.",
)
RESIZED_CROP = knob(
    "resized_crop", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.08, 1.0, off=0.0),
    doc="Random-resized crop (Szegedy et al., 2015): crop this fraction up to all of the image's area, "
        "aspect 3/4 to 4/3, and resize it back; 0 = off.",
)


def build_augmentation(section, image_size: int) -> nn.Module:
    """The training-time augmentation for a recipe's regularization section (float images in [0, 1])."""
    steps: list[nn.Module] = []
    if section.resized_crop:
        steps.append(K.RandomResizedCrop((image_size, image_size), scale=(section.resized_crop, 1.0)))
    if section.hflip:
        steps.append(K.RandomHorizontalFlip())
    padding = int(round(section.translate * image_size))
    if padding:
        steps.append(K.RandomCrop((image_size, image_size), padding=padding, padding_mode="reflect"))
    if section.color_jitter:
        steps.append(ColorJitter(section.color_jitter))
    policy = build_policy(section)
    if policy is not None:
        steps.append(policy)
    if section.random_erasing:
        steps.append(K.RandomErasing(p=section.random_erasing))
    if section.cutout:
        steps.append(Cutout(section.cutout))
    return nn.Sequential(*steps)
