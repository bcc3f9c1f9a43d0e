"""Training length, batch size and the learning-rate (and momentum) schedule over training progress."""

from __future__ import annotations

import math

import torch

from ..knobs import Choice, IntRange, Interval, Options, Uniform, knob

REFERENCE_BATCH = 512
MIN_STEPS_PER_EPOCH = 16
MIN_BATCH = 16  # the automatic batch's floor: smaller batches make batch-norm statistics too noisy
STEP_MILESTONES = (0.5, 0.75)  # step schedule: decay points, as fractions of the training after warmup
ONECYCLE_START = 1 / 25  # one-cycle warmup starts at this fraction of the peak (Smith & Topin, 2019)
ONECYCLE_MOMENTUM_DROP = 0.1  # one-cycle momentum falls this far below its knob value at the peak lr

EPOCHS = knob(
    "epochs", bucket="optimization", default=20, baseline=20, valid=Interval(int, 1, 100_000),
    search=IntRange(5, 100, log=True),
    doc="Passes over the training data (a time budget may end training sooner).",
)
BATCH_SIZE = knob(
    "batch_size", bucket="optimization", default=0, baseline=0, valid=Interval(int, 0, 65_536),
    search=Choice((64, 128, 256, 512, 1024)),
    doc=f"Images per forward pass; 0 = automatic: the largest power of two up to {REFERENCE_BATCH} "
        f"that gives at least {MIN_STEPS_PER_EPOCH} steps per epoch, and at least {MIN_BATCH} (or every "
        "training image, when there are fewer) so that batch norm sees enough images (or --auto-batch). "
        "Training batches are never smaller than 2 with batch norm.",
)
LR_SCALING = knob(
    "lr_scaling", bucket="optimization", default="linear", baseline="linear",
    valid=Options(("none", "linear", "sqrt")), search=Choice(("linear", "sqrt")),
    doc=f"How the learning rate follows the batch size: lr is set for batch {REFERENCE_BATCH} and scaled "
        f"by (batch x accumulate / {REFERENCE_BATCH}) or its square root.",
)
SCHEDULE = knob(
    "schedule", bucket="optimization", default="linear", baseline="constant",
    valid=Options(("constant", "step", "linear", "cosine", "onecycle")),
    search=Choice(("step", "linear", "cosine", "onecycle")),
    doc="The learning rate after a linear warmup from zero: constant; step (x step_gamma at "
        f"{' and '.join(f'{m:.0%}' for m in STEP_MILESTONES)} of the rest); linear decay to zero; cosine "
        "decay to zero; or one-cycle (Smith & Topin, 2019: warmup from peak/25, linear decay, momentum "
        "cycled inversely to the learning rate).",
)
WARMUP = knob(
    "warmup", bucket="optimization", default=0.2, baseline=0.0, valid=Interval(float, 0.0, 0.9),
    search=Uniform(0.0, 0.3),
    doc="Fraction of training spent ramping the learning rate up to its peak.",
)
STEP_GAMMA = knob(
    "step_gamma", bucket="optimization", default=0.1, baseline=0.1, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.05, 0.5, log=True), when=("schedule", ("step",)),
    doc="The step schedule's decay factor at each milestone.",
)


def batch_size(section, num_train: int) -> int:
    """The batch size to train with: the knob's value, or the automatic choice (see BATCH_SIZE)."""
    if section.batch_size:
        return min(section.batch_size, num_train)
    size = MIN_BATCH
    while size * 2 <= REFERENCE_BATCH and size * 2 * MIN_STEPS_PER_EPOCH <= num_train:
        size *= 2
    return min(size, num_train)


def peak_lr(section, batch: int) -> float:
    """The peak learning rate for `batch` (times the accumulated steps), scaled by the declared rule."""
    ratio = batch * section.accumulate / REFERENCE_BATCH
    return section.lr * {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[section.lr_scaling]


def lr_factor(section, progress: float) -> float:
    """The learning rate as a fraction of its peak, at `progress` in [0, 1] of training."""
    progress = min(max(progress, 0.0), 1.0)
    warmup = section.warmup
    if progress < warmup:
        start = ONECYCLE_START if section.schedule == "onecycle" else 0.0
        return start + (1.0 - start) * progress / warmup
    rest = (progress - warmup) / (1.0 - warmup)
    if section.schedule == "constant":
        return 1.0
    if section.schedule == "step":
        return section.step_gamma ** sum(rest >= m for m in STEP_MILESTONES)
    if section.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * rest))
    return 1.0 - rest


def momentum_at(section, progress: float) -> float | None:
    """One-cycle's momentum at `progress` (low at the peak lr, high at both ends); None for other schedules."""
    if section.schedule != "onecycle":
        return None
    low = max(0.0, section.momentum - ONECYCLE_MOMENTUM_DROP)
    return section.momentum - (section.momentum - low) * lr_factor(section, progress)


def apply_schedule(section, optimizer: torch.optim.Optimizer, top_lr: float, progress: float) -> float:
    """Set every group's learning rate (times its `lr_scale`) and momentum for `progress`; return the lr."""
    lr = top_lr * lr_factor(section, progress)
    momentum = momentum_at(section, progress)
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
        if momentum is not None and "betas" in group:
            group["betas"] = (momentum, group["betas"][1])
        elif momentum is not None and "momentum" in group:
            group["momentum"] = momentum
    return lr
