"""Training length, batch size and the learning-rate schedule over training progress."""

from __future__ import annotations

import math

from ..knobs import Choice, IntRange, Uniform, knob

REFERENCE_BATCH = 512
MIN_STEPS_PER_EPOCH = 16

EPOCHS = knob(
    "epochs", bucket="optimization", default=20, baseline=20, low=1, high=100_000,
    search=IntRange(5, 100, log=True),
    doc="Passes over the training data (a time budget may end training sooner).",
)
BATCH_SIZE = knob(
    "batch_size", bucket="optimization", default=0, baseline=0, low=0, high=65_536,
    search=Choice((64, 128, 256, 512, 1024)),
    doc=f"Images per optimizer step; 0 = automatic: the largest power of two up to {REFERENCE_BATCH} "
        f"that gives at least {MIN_STEPS_PER_EPOCH} steps per epoch.",
)
LR_SCALING = knob(
    "lr_scaling", bucket="optimization", default="linear", baseline="linear", choices=("none", "linear", "sqrt"),
    search=Choice(("linear", "sqrt")),
    doc=f"How the learning rate follows the batch size: lr is set for batch {REFERENCE_BATCH} and scaled "
        f"by (batch / {REFERENCE_BATCH}) or its square root.",
)
SCHEDULE = knob(
    "schedule", bucket="optimization", default="onecycle", baseline="constant",
    choices=("constant", "cosine", "onecycle"), search=Choice(("cosine", "onecycle")),
    doc="Learning rate over training: constant; warmup then cosine decay; or one-cycle "
        "(linear warmup then linear decay to zero).",
)
WARMUP = knob(
    "warmup", bucket="optimization", default=0.2, baseline=0.0, low=0.0, high=0.9,
    search=Uniform(0.0, 0.3),
    doc="Fraction of training spent ramping the learning rate up from zero.",
)


def batch_size(section, num_train: int) -> int:
    """The batch size to train with: the knob's value, or the automatic choice (see BATCH_SIZE)."""
    if section.batch_size:
        return min(section.batch_size, num_train)
    size = 1
    while size * 2 <= REFERENCE_BATCH and size * 2 * MIN_STEPS_PER_EPOCH <= num_train:
        size *= 2
    return size


def peak_lr(section, batch: int) -> float:
    """The peak learning rate for `batch`, scaled from the reference batch by the declared rule."""
    ratio = batch / REFERENCE_BATCH
    return section.lr * {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[section.lr_scaling]


def lr_factor(section, progress: float) -> float:
    """The learning rate as a fraction of its peak, at `progress` in [0, 1] of training."""
    progress = min(max(progress, 0.0), 1.0)
    warmup = section.warmup
    if progress < warmup:
        return progress / warmup
    if section.schedule == "constant":
        return 1.0
    rest = (progress - warmup) / (1.0 - warmup)
    if section.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * rest))
    return 1.0 - rest
