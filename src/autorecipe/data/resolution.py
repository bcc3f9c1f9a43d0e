"""The size images train at: smaller than the size the model is evaluated and exported at (image_size), a
size that grows during training (progressive resizing), or a short fine-tuning at full size at the end.

Training at a lower resolution is faster, and, with random-crop augmentation, evaluating at a higher
resolution than training tends to score better (Touvron et al., 2019, "FixRes"); a brief fine-tuning at the
test size closes the gap in apparent object size. Progressive resizing trains small first and finishes at
full size (Tan and Le, 2021; fast.ai). Sizes change in a few stages, so a compiled model recompiles little.
"""

from __future__ import annotations

from ..knobs import Interval, Not, Options, Uniform, knob

SCHEDULES = ("fixed", "progressive", "finetune")
STAGES = 4  # progressive resizing: sizes from train_size to full, each for a quarter of training
FINETUNE_SHARE = 0.1  # finetune: the last tenth of training at full size

TRAIN_SIZE = knob(
    "train_size", bucket="data", default=1.0, baseline=1.0, valid=Interval(float, 0.25, 1.0),
    search=Uniform(0.5, 1.0),
    doc="The side images train at, as a share of image_size (the size the model is evaluated and exported "
        "at): 0.75 trains 24 px images for a 32 px model. The run records both.",
)
RESIZE_SCHEDULE = knob(
    "resize_schedule", bucket="data", default="fixed", baseline="fixed", valid=Options(SCHEDULES),
    when=("train_size", Not((1.0,))),
    doc="fixed: train at train_size throughout; progressive: grow from train_size to full size in "
        f"{STAGES} equal stages; finetune: train at train_size, then the last {FINETUNE_SHARE:.0%} of training "
        "at full size (FixRes).",
)


def training_size(section, image_size: int, progress: float) -> int:
    """The side to train at, `progress` (0..1) into training."""
    low = max(8, int(round(section.train_size * image_size)))
    if low >= image_size:
        return image_size
    if section.resize_schedule == "progressive":
        stage = min(STAGES - 1, int(progress * STAGES))
        return int(round(low + (image_size - low) * stage / (STAGES - 1)))
    if section.resize_schedule == "finetune" and progress >= 1 - FINETUNE_SHARE:
        return image_size
    return low


def training_sizes(section, image_size: int) -> list[int]:
    """Every side training goes through, in order."""
    sizes = []
    for step in range(100):
        size = training_size(section, image_size, step / 100)
        if not sizes or sizes[-1] != size:
            sizes.append(size)
    return sizes
