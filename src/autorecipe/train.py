"""The training loop: one loop, every technique plugged in through the recipe."""

from __future__ import annotations

import copy
import logging
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .architecture.pretrained import load_pretrained
from .data.dataset import ImageData
from .data.loader import BatchLoader
from .inference import layout, predict_logits, score
from .model import Classifier
from .optimization.compilation import compiled
from .optimization.finetune import freeze_backbone, layerwise_groups
from .optimization.optimizers import build_optimizer, resolve_lr
from .optimization.precision import autocast, resolve_precision
from .optimization.schedule import apply_schedule, batch_size, peak_lr
from .optimization.step import Stepper
from .progress import NullReporter, Reporter
from .recipe import Recipe
from .regularization.augment import build_augmentation
from .regularization.early_stopping import EarlyStopping
from .regularization.ema import build_ema
from .regularization.label_smoothing import training_loss
from .regularization.mixing import mix
from .regularization.weight_decay import attach_penalties, decay_mode, parameter_groups

log = logging.getLogger("autorecipe")

CHECK_EVERY = 20  # steps between checks for a non-finite loss (each check syncs the device)


class StopTraining(Exception):
    """Raised by a reporter's `epoch` callback to end training after that epoch (status "stopped")."""


@dataclass
class TrainResult:
    """The trained model (best weights by validation accuracy) and how training went."""

    model: Classifier
    history: list[dict] = field(default_factory=list)
    status: str = "completed"  # completed | early_stopped | time_budget | diverged | interrupted | stopped
    best_epoch: int | None = None
    precision: str = "fp32"
    batch_size: int = 0
    peak_lr: float = 0.0
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (model initialization and augmentation)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(recipe: Recipe, train_data: ImageData, val_data: ImageData | None, *, device: torch.device,
          seed: int = 0, time_budget: float | None = None, reporter: Reporter | None = None,
          network=None) -> TrainResult:
    """Train the recipe's classifier on `train_data`, keeping the best weights on `val_data`
    (the weight average's, when EMA is on). `network` (an nn.Module or a factory) replaces
    the recipe's model.
    """
    reporter = reporter or NullReporter()
    recipe = resolve_lr(recipe)
    opt_knobs, reg_knobs = recipe.optimization, recipe.regularization
    seed_everything(seed)
    model = Classifier(recipe, len(train_data.classes), train_data.channels, train_data.image_size, network)
    load_pretrained(recipe.architecture, model.network)
    model.normalize.fit(opt_knobs, train_data.x[np.sort(train_data.rows[:: max(1, len(train_data) // 10_000)])])
    channels_last = opt_knobs.channels_last
    model.to(device=device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    optimizer = build_optimizer(opt_knobs, layerwise_groups(opt_knobs, model.network,
                                                            parameter_groups(reg_knobs, model)))
    attach_penalties(decay_mode(reg_knobs, opt_knobs.optimizer), optimizer)
    augment = build_augmentation(reg_knobs, train_data.image_size).to(device)
    ema, stopper = build_ema(reg_knobs, model), EarlyStopping(reg_knobs)
    mix_rng = np.random.default_rng(seed)
    precision = resolve_precision(opt_knobs, device)
    stepper, forward = Stepper(opt_knobs, model, optimizer, device, precision), compiled(opt_knobs, model)
    batch = batch_size(opt_knobs, len(train_data))
    top_lr = peak_lr(opt_knobs, batch)
    batches = BatchLoader(train_data, device, batch, shuffle=True, drop_last=True, seed=seed)
    val_batches = BatchLoader(val_data, device, max(2 * batch, 256), shuffle=False) if val_data else None

    result = TrainResult(model, precision=precision, batch_size=batch, peak_lr=top_lr)
    total_steps, step, start = opt_knobs.epochs * len(batches), 0, time.perf_counter()
    best_state, best_key = None, None
    reporter.start(opt_knobs.epochs, len(batches))
    try:
        for epoch in range(1, opt_knobs.epochs + 1):
            freeze_backbone(opt_knobs, model.network, epoch)
            model.train()  # after freezing: the frozen layers' batch norms stay in evaluation mode
            epoch_start, seen = time.perf_counter(), 0
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            for x, y in batches:
                elapsed = time.perf_counter() - start
                progress = max(step / total_steps, elapsed / time_budget if time_budget else 0.0)
                lr = apply_schedule(opt_knobs, optimizer, top_lr, progress)
                with torch.no_grad():
                    x, target = mix(reg_knobs, augment(x), y, len(train_data.classes), mix_rng)
                    x = layout(x, channels_last)
                with autocast(device, precision):
                    logits = forward(x)
                loss = training_loss(reg_knobs, logits, target)
                if stepper.backward(loss) and ema is not None:
                    ema.update()
                loss_sum += loss.detach() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                seen += len(y)
                step += 1
                reporter.step()
                if step % CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
                    break
                if time_budget and time.perf_counter() - start > time_budget:
                    result.status = "time_budget"
                    break
            train_seconds = time.perf_counter() - epoch_start
            if not torch.isfinite(loss_sum):
                result.status = "diverged"
                break
            record = {"epoch": epoch, "train_loss": loss_sum.item() / seen, "train_accuracy": correct.item() / seen}
            evaluated = ema.model if ema is not None else model
            if val_batches is not None:
                val = score(*predict_logits(evaluated, val_batches, device, precision, channels_last,
                                            reg_knobs.tta))
                record.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
            record.update(lr=lr, images_per_second=seen / train_seconds,
                          seconds=time.perf_counter() - epoch_start)
            result.history.append(record)
            log.info("epoch %s", {k: round(v, 5) if isinstance(v, float) else v for k, v in record.items()})
            key = (record.get("val_accuracy", 0.0), -record.get("val_loss", 0.0), epoch)
            if val_batches is None or best_key is None or key[:2] > best_key[:2]:
                best_key, result.best_epoch = key, epoch
                best_state = copy.deepcopy(evaluated.state_dict())
            reporter.epoch(record)
            if result.status == "time_budget":
                break
            if val_batches is not None and stopper.should_stop(record["val_accuracy"]):
                result.status = "early_stopped"
                break
    except StopTraining:
        result.status = "stopped"
    except KeyboardInterrupt:
        result.status = "interrupted"
    finally:
        reporter.stop()
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - start
    return result
