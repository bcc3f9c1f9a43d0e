"""The batch-size finder: the largest batch that fits in device memory, or on the CPU the throughput knee.

On an accelerator the batch doubles until a step runs out of memory, a binary search narrows
the limit, and a safety margin is taken off. On the CPU memory is rarely the limit, so the
batch doubles while a doubling still raises the throughput by KNEE_GAIN. Both stop at a cap
that keeps at least MIN_STEPS_PER_EPOCH steps per epoch. The lr follows the new batch through
the recipe's lr_scaling rule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch

from ..data.dataset import ImageData
from ..data.loader import BatchLoader
from ..errors import AutorecipeError
from ..optimization.schedule import MIN_STEPS_PER_EPOCH, peak_lr
from ..recipe import Recipe
from .setup import build_setup

log = logging.getLogger("autorecipe")

START, CAP = 16, 4096
MARGIN = 0.9  # share of the largest fitting batch to use on an accelerator
KNEE_GAIN = 0.1  # on the CPU, a doubling must raise images/s by at least this share
ALIGN = 8  # batches found by binary search are multiples of this
TIMED_STEPS = 3


def largest_fitting(fits: Callable[[int], bool], start: int = START, cap: int = CAP) -> int:
    """The largest batch up to `cap` for which `fits(batch)` holds (doubling, then binary search), less MARGIN."""
    if not fits(start):
        raise AutorecipeError(f"a batch of {start} does not fit in device memory; use a smaller model or image_size")
    low, high = start, None
    while low * 2 <= cap:
        if not fits(low * 2):
            high = low * 2
            break
        low *= 2
    if high is None:
        return low
    while high - low > ALIGN:
        middle = (low + high) // 2 // ALIGN * ALIGN
        low, high = (middle, high) if fits(middle) else (low, middle)
    return max(start, int(low * MARGIN) // ALIGN * ALIGN)


def throughput_knee(images_per_second: Callable[[int], float | None], start: int = START, cap: int = CAP) -> int:
    """Double the batch from `start` while images/s rises by KNEE_GAIN (None = it does not fit); the last one."""
    batch, rate = start, images_per_second(start)
    if rate is None:
        raise AutorecipeError(f"a batch of {start} does not fit in memory; use a smaller model or image_size")
    while batch * 2 <= cap:
        doubled = images_per_second(batch * 2)
        if doubled is None or doubled < rate * (1 + KNEE_GAIN):
            break
        batch, rate = batch * 2, doubled
    return batch


def find_batch_size(recipe: Recipe, train_data: ImageData, device: torch.device, seed: int = 0, network=None) -> Recipe:
    """The recipe with the batch size found for its training setup on `device` (memory limit, or CPU
    throughput knee)."""
    setup = build_setup(recipe, train_data, device, seed, network, ema=False, compile=False, copy_network=True)
    setup.model.train()
    cap = min(CAP, max(1, len(train_data) // MIN_STEPS_PER_EPOCH))
    start = min(START, cap)

    def images_per_second(batch: int) -> float | None:
        x, y = next(iter(BatchLoader(train_data, device, batch, shuffle=True, seed=seed)))
        try:
            setup.step(x, y)  # warm-up (and the memory test)
            synchronize(device)
            began = time.perf_counter()
            for _ in range(TIMED_STEPS):
                setup.step(x, y)
            synchronize(device)
            return TIMED_STEPS * batch / (time.perf_counter() - began)
        except torch.OutOfMemoryError:
            setup.optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            return None

    if device.type == "cpu":
        batch = throughput_knee(images_per_second, start, cap)
    else:
        batch = largest_fitting(lambda b: images_per_second(b) is not None, start, cap)
    found = recipe.with_values({"batch_size": batch})
    log.info("batch-size finder on %s: batch %d (cap %d); peak lr %.4g", device, batch, cap,
             peak_lr(found.optimization, batch))
    return found


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so that a clock reads the work done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
