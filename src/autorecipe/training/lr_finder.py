"""The learning-rate range test (Smith, 2017): raise the lr exponentially, step by step, and watch the loss.

A bias-corrected exponential average of the loss stops the sweep when it diverges (exceeds
DIVERGE times its minimum) or the loss turns non-finite (that point is dropped). The
suggestion is the lr where the loss, smoothed by a centred moving average (which, unlike the
exponential one, does not lag behind the rising lr), falls fastest against log(lr) on its way
down to its minimum, ignoring the first and last points (after a divergence the loss of a
network with batch norm can fall again, which must not count). The model's weights and the optimizer's state are restored afterwards, so the test
can be run again, on the same model, with the same result.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import ImageData
from ..data.loader import BatchLoader
from ..errors import AutorecipeError
from ..files import write_atomic
from ..optimization.optimizers import LR
from ..optimization.schedule import peak_lr
from ..recipe import Recipe
from .setup import build_setup

log = logging.getLogger("autorecipe")

MIN_LR, MAX_LR, STEPS = 1e-6, 10.0, 100
SMOOTHING = 0.9  # weight of the running average of the loss that detects divergence
WINDOW = 5  # the centred average for the suggestion spans this many points on either side
DIVERGE = 4.0  # stop when the smoothed loss exceeds this multiple of its minimum
SKIP_START, SKIP_END = 10, 5  # points left out when choosing the suggestion


@dataclass
class LRCurve:
    """The range test's record: lr, raw and smoothed loss per step, and the suggested lr."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float

    def save(self, path: str | Path) -> None:
        """Write the curve as CSV: lr, loss, smoothed_loss, suggested (1 on the suggested row)."""
        rows = ["lr,loss,smoothed_loss,suggested"]
        rows += [f"{lr:.6g},{loss:.6g},{smooth:.6g},{int(lr == self.suggestion)}"
                 for lr, loss, smooth in zip(self.lrs, self.losses, self.smoothed)]
        write_atomic(Path(path), ("\n".join(rows) + "\n").encode())


def lr_range_test(model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: Callable[..., torch.Tensor],
                  batches: Iterable, *, min_lr: float = MIN_LR, max_lr: float = MAX_LR, steps: int = STEPS) -> LRCurve:
    """Sweep the lr of `optimizer` from `min_lr` to `max_lr` over `steps` calls of `step(*batch)` (which
    trains on a batch and returns its loss); `batches` is iterated again when it runs out."""
    saved_model, saved_optimizer = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    growth = (max_lr / min_lr) ** (1 / max(1, steps - 1))
    lrs, losses, average, best = [], [], 0.0, math.inf
    try:
        batch_stream = itertools.chain.from_iterable(itertools.repeat(batches))
        for i, batch in zip(range(steps), batch_stream):
            lr = min_lr * growth ** i
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            loss = float(step(*batch))
            if not math.isfinite(loss):
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * loss
            smooth = average / (1 - SMOOTHING ** (len(losses) + 1))
            lrs.append(lr), losses.append(loss)
            if len(losses) > SKIP_START and smooth > DIVERGE * best:
                break
            best = min(best, smooth)
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
    smoothed = [float(np.mean(losses[max(0, i - WINDOW): i + WINDOW + 1])) for i in range(len(losses))]
    return LRCurve(lrs, losses, smoothed, _steepest(lrs, smoothed))


def _steepest(lrs: list[float], smoothed: list[float]) -> float:
    """The lr where the smoothed loss falls fastest against log(lr) before its minimum, first and last
    points left out."""
    end = len(lrs) - SKIP_END
    if end - SKIP_START >= 3:
        end = SKIP_START + int(np.argmin(smoothed[SKIP_START:end])) + 1
    if end - SKIP_START < 3 and len(lrs) - SKIP_END - SKIP_START >= 3:  # a long sweep, no fall
        raise AutorecipeError("the learning-rate range test found no lr at which the loss falls (it was lowest "
                              "in the first steps); check the data and labels, or keep the recipe's lr "
                              "(no --auto-lr)")
    if end - SKIP_START < 3:
        raise AutorecipeError(f"the learning-rate range test diverged after {len(lrs)} steps, too early to "
                              f"suggest a learning rate; lower the starting lr (now {lrs[0] if lrs else MIN_LR:g})")
    slopes = np.gradient(np.array(smoothed[SKIP_START:end]), np.log(lrs[SKIP_START:end]))
    return lrs[SKIP_START + int(np.argmin(slopes))]


def find_lr(recipe: Recipe, train_data: ImageData, device: torch.device, seed: int = 0, network=None,
            steps: int = STEPS) -> tuple[Recipe, LRCurve]:
    """Run the range test with the recipe's training setup (model, optimizer, batch size, augmentation,
    mixing, loss); return the recipe with the suggested lr (expressed for the reference batch, as the
    lr knob is) and the curve."""
    setup = build_setup(recipe, train_data, device, seed, network, ema=False, compile=False, copy_network=True)
    recipe, batch = setup.recipe, setup.batch_size
    batches = BatchLoader(train_data, device, batch, shuffle=True, drop_last=True, seed=seed,
                          weights=setup.sampling_weights)
    setup.model.train()
    curve = lr_range_test(setup.model, setup.optimizer, lambda x, y: setup.step(x, y)[0], batches, steps=steps)
    scale = peak_lr(recipe.optimization, batch) / recipe.optimization.lr
    lr = float(min(max(curve.suggestion / scale, LR.valid.low), LR.valid.high))
    log.info("learning-rate range test: %d steps at batch %d, suggested peak lr %.4g (lr knob %.4g)",
             len(curve.lrs), batch, curve.suggestion, lr)
    return recipe.with_values({"lr": lr}), curve
