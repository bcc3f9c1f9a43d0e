"""The training-time augmentation pipeline, batched on the device; flips and crops are declared here.

Order: random-resized crop, flip, pad-and-crop translation, colour jitter, the automatic
policy, random erasing, cutout. Each step is skipped when its knob is off.
"""

from __future__ import annotations

import math

import kornia.augmentation as K
import numpy as np
from torch import nn

from ..knobs import BooleanOrAuto, Choice, Interval, Uniform, knob
from .color_jitter import ColorJitter
from .erasing import Cutout
from .policies import build_policy

HFLIP = knob(
    "hflip", bucket="regularization", default="auto", baseline=False, valid=BooleanOrAuto(),
    search=Choice((True, False)),
    doc="Mirror half of the training images left to right. auto: on, unless mirroring changes what an image "
        "shows (handwriting, text, arrows): flips are off when the nearest training image of a mirrored image "
        "has its label clearly less often than that of the image itself (see flips_keep_classes).",
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


FLIP_SAMPLE = 1000  # training images the flip rule compares
FLIP_SIDE = 16  # the side the images are pooled down to for the comparison
FLIP_MARGIN = 0.05  # the least drop in nearest-neighbour agreement that turns flips off


def flips_keep_classes(images: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[bool, float, float]:
    """Whether mirroring keeps an image's class, judged on uint8 (N, C, S, S) training images.

    For a sample of images (pooled to FLIP_SIDE px, centred and scaled to unit length), how
    often the nearest other image has the same label, for each image and for its mirror. A flip
    changes the class when the mirrors agree less by more than FLIP_MARGIN and two standard
    errors (digits: 98% against 33%; CIFAR-10 photos: 28% against 29%). Returns the verdict and
    both agreements.
    """
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(images))[:FLIP_SAMPLE]
    x, y = images[pick].astype(np.float32) / 255.0, labels[pick]
    if len(x) < 4:
        return True, float("nan"), float("nan")
    side, factor = x.shape[-1], max(1, x.shape[-1] // FLIP_SIDE)
    if factor > 1:
        cut = side // factor * factor
        x = x[..., :cut, :cut].reshape(len(x), x.shape[1], cut // factor, factor, cut // factor, factor).mean((3, 5))
    originals, mirrors = _unit_rows(x), _unit_rows(x[..., ::-1])
    agreement = []
    for queries in (originals, mirrors):
        similarity = queries @ originals.T
        np.fill_diagonal(similarity, -np.inf)  # an image is not its own neighbour (nor its mirror's)
        agreement.append(float((y[similarity.argmax(1)] == y).mean()))
    plain, mirrored = agreement
    noise = 2 * math.sqrt(2 * plain * (1 - plain) / len(x))
    return plain - mirrored <= max(FLIP_MARGIN, noise), plain, mirrored


def _unit_rows(x: np.ndarray) -> np.ndarray:
    rows = x.reshape(len(x), -1)
    rows = rows - rows.mean(1, keepdims=True)
    return rows / (np.linalg.norm(rows, axis=1, keepdims=True) + 1e-8)


def build_augmentation(section, image_size: int) -> nn.Module:
    """The training-time augmentation for a recipe's regularization section (float images in [0, 1])."""
    steps: list[nn.Module] = []
    if section.resized_crop:
        steps.append(K.RandomResizedCrop((image_size, image_size), scale=(section.resized_crop, 1.0)))
    if section.hflip is True:  # "auto" is decided before training (training.setup.resolve_flip)
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
