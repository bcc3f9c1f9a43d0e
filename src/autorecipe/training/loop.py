"""The training loop: one loop, every technique plugged in through the recipe's training setup."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.dataset import ImageData
from ..data.loader import BatchLoader
from ..optimization.finetune import freeze_backbone
from ..optimization.schedule import apply_schedule
from ..recipe import Recipe
from ..regularization.early_stopping import EarlyStopping
from .auxiliary import UnlabeledObjective
from .callbacks import Callback, Callbacks
from .checkpoint import Checkpoint, generator_states, restore_generators
from .classifier import Classifier
from .gradients import GradientMonitor
from .scoring import confusion_matrix, predict_logits, score
from .setup import build_setup

log = logging.getLogger("autorecipe")

CHECK_EVERY = 20  # steps between checks for a non-finite loss (each check syncs the device)


@dataclass
class TrainResult:
    """The trained model (best weights by validation accuracy) and how training went."""

    model: Classifier
    history: list[dict] = field(default_factory=list)
    status: str = "completed"  # completed | early_stopped | time_budget | diverged | interrupted | stopped
    best_epoch: int | None = None
    precision: str = "fp32"
    batch_size: int = 0
    lr: float = 0.0  # the lr knob's value (for a batch of 512), the automatic one resolved
    peak_lr: float = 0.0  # the peak lr at this batch size
    seconds: float = 0.0
    stop_reason: str | None = None  # what a callback gave as its reason, for status "stopped"
    val_correct: np.ndarray | None = None  # per validation image, whether the kept weights classify it right
    val_confusion: np.ndarray | None = None  # the kept weights' confusion matrix on the validation images
    metric: str = "accuracy"  # the validation metric that chose the kept epoch (scoring.METRICS)
    gradients: dict | None = None  # the gradient-health record (training.gradients), gradients.json


def train(recipe: Recipe, train_data: ImageData, val_data: ImageData | None, *, device: torch.device,
          seed: int = 0, time_budget: float | None = None, callbacks: Iterable[Callback] = (),
          network=None, unlabeled: ImageData | None = None,
          objective: UnlabeledObjective | None = None, keep: str = "best",
          checkpoint: Checkpoint | None = None, metric: str = "accuracy") -> TrainResult:
    """Train the recipe's classifier on `train_data`, keeping the best weights on `val_data`
    (the weight average's, when EMA is on). `network` (an nn.Module or a factory) replaces
    the recipe's model; `callbacks` receive every step and epoch and may stop training.
    With `unlabeled` images (labelled with the true labels where known, else -1) and an
    `objective` (training.auxiliary), every step also learns from a batch of them; an epoch is
    one pass over the labelled images. `keep="last"` keeps the last epoch's weights instead of
    the best on validation (when the validation images are too few to choose by); `metric` (scoring.METRICS)
    is what "best" and early stopping go by. With a
    `checkpoint`, training writes its state there (training.checkpoint) and, when one was written
    before, goes on from it; a training that had ended returns its result without training.
    """
    semi = unlabeled is not None and objective is not None
    setup = build_setup(recipe, train_data, device, seed, network, objective=objective if semi else None)
    opt, reg, model = setup.recipe.optimization, setup.recipe.regularization, setup.model
    monitor = setup.stepper.monitor = GradientMonitor(model)
    events = Callbacks(callbacks)
    batches = BatchLoader(train_data, device, setup.batch_size, shuffle=True, drop_last=True, seed=seed,
                          weights=setup.sampling_weights)
    unlabeled_loader = BatchLoader(unlabeled, device, objective.ratio * setup.batch_size, shuffle=True,
                                   drop_last=True, seed=seed + 1) if semi else None
    unlabeled_batches = _endless(unlabeled_loader) if semi else None
    generators = [loader.generator for loader in (batches, unlabeled_loader) if loader is not None]
    val_batches = BatchLoader(val_data, device, max(2 * setup.batch_size, 256), shuffle=False) if val_data else None
    stopper = EarlyStopping(reg)
    result = TrainResult(model, precision=setup.precision, batch_size=setup.batch_size, lr=opt.lr,
                         peak_lr=setup.peak_lr, metric=metric)
    total_steps, step, start, first = opt.epochs * len(batches), 0, time.perf_counter(), 1
    best_state, best_key = None, None
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None and saved["finished"]:  # this training ended before: its result as it was
        return _finished_result(saved, result)
    if saved is not None:  # go on after the checkpoint's epoch, its time counted
        step, elapsed, best_state, best_key = _resume(saved, setup, generators, stopper, result)
        if saved["loop"].get("gradients"):  # a checkpoint written before gradient health has none
            monitor.load_state_dict(saved["loop"]["gradients"])
        first, start = len(result.history) + 1, start - elapsed
        log.info("resuming from %s after epoch %d (%.1f s trained)", checkpoint.path, first - 1, elapsed)
    events.on_start(opt.epochs, len(batches), {
        "model": setup.recipe.architecture.model, "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device), "precision": setup.precision, "images": len(train_data),
        "val_images": len(val_data) if val_data else 0, "batch": setup.batch_size, "lr": opt.lr,
        "peak_lr": setup.peak_lr, "steps_done": step, **({"unlabeled_images": len(unlabeled)} if semi else {})})
    try:
        for epoch in range(first, opt.epochs + 1):
            # Train one epoch (the backbone frozen for the first freeze_epochs)
            freeze_backbone(opt, setup.layers, epoch)
            model.train()  # after freezing: the frozen layers' batch norms stay in evaluation mode
            epoch_start, seen, out_of_time, step_stop = time.perf_counter(), 0, False, None
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            for x, y in batches:
                elapsed = time.perf_counter() - start
                progress = max(step / total_steps, elapsed / time_budget if time_budget else 0.0)
                lr = apply_schedule(opt, setup.optimizer, setup.peak_lr, progress)
                loss, logits = setup.step(x, y, next(unlabeled_batches) if semi else None, progress)
                loss_sum += loss * len(y)
                correct += (logits.argmax(1) == y).sum()
                seen += len(y)
                step += 1
                step_stop = events.on_step()
                if step % CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
                    break
                out_of_time = bool(time_budget and time.perf_counter() - start > time_budget)
                if out_of_time or step_stop:
                    break
            train_seconds = time.perf_counter() - epoch_start
            if not torch.isfinite(loss_sum):
                result.status = "diverged"
                break

            # Score the epoch (the weight average's, when EMA is on) and keep the best weights
            record = {"epoch": epoch, "train_loss": loss_sum.item() / seen, "train_accuracy": correct.item() / seen,
                      **(objective.epoch_metrics() if semi else {})}
            evaluated = setup.ema.model if setup.ema is not None else model
            correct_now = confusion_now = None
            if val_batches is not None:
                logits, labels = predict_logits(evaluated, val_batches, device, setup.precision, opt.channels_last,
                                                reg.tta)
                val, correct_now = score(logits, labels), logits.argmax(1) == labels
                confusion_now = confusion_matrix(logits.argmax(1), labels, logits.shape[1])
                record.update({f"val_{name}": value for name, value in val.items()})
            record.update(lr=lr, images_per_second=seen / train_seconds, seconds=time.perf_counter() - epoch_start)
            result.history.append(record)
            log.info("epoch %s", {k: round(v, 5) if isinstance(v, float) else v for k, v in record.items()})
            key = (record.get(f"val_{metric}", 0.0), -record.get("val_loss", 0.0))
            if val_batches is None or keep == "last" or best_key is None or key > best_key:
                best_key, result.best_epoch, result.val_correct = key, epoch, correct_now
                result.val_confusion = confusion_now
                best_state = copy.deepcopy(evaluated.state_dict())

            # Stop early: a callback's request, the time budget, or no more progress on validation
            no_progress = val_batches is not None and stopper.should_stop(record[f"val_{metric}"])
            result.stop_reason = events.on_epoch(record) or step_stop
            result.status = _ending(result.stop_reason, out_of_time, no_progress)
            if result.status != "completed":
                break
            if checkpoint is not None and checkpoint.due():
                checkpoint.save(_state(setup, generators, stopper, result, step, time.perf_counter() - start,
                                       best_state, best_key))
    except KeyboardInterrupt:
        result.status = "interrupted"
        if checkpoint is not None:
            checkpoint.save(_state(setup, generators, stopper, result, step, time.perf_counter() - start,
                                   best_state, best_key))
    finally:
        events.on_end()
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - start
    result.gradients = monitor.record(result.seconds)
    if checkpoint is not None and result.status != "interrupted":
        checkpoint.save(_finished_state(result))
    return result


def _state(setup, generators: list[torch.Generator], stopper: EarlyStopping, result: TrainResult, step: int,
           elapsed: float, best_state: dict | None, best_key: tuple | None) -> dict:
    """A checkpoint of a training under way: the setup, the generators, early stopping and the loop's place."""
    return {"finished": False, "setup": setup.state_dict(),
            "generators": generator_states(setup.mix_rng, generators),
            "stopper": (stopper.best, stopper.waited), "best_state": best_state,
            "val_correct": _tensor(result.val_correct), "val_confusion": _tensor(result.val_confusion),
            "loop": {"step": step, "elapsed": elapsed, "history": result.history, "best_epoch": result.best_epoch,
                     "best_key": best_key, "gradients": setup.stepper.monitor.state_dict()}}


def _resume(saved: dict, setup, generators: list[torch.Generator], stopper: EarlyStopping,
            result: TrainResult) -> tuple[int, float, dict | None, tuple | None]:
    """Put a checkpoint of a training under way back into its parts; (step, seconds trained, best weights,
    their key) for the loop."""
    setup.load_state_dict(saved["setup"])
    restore_generators(saved["generators"], setup.mix_rng, generators)
    stopper.best, stopper.waited = saved["stopper"]
    loop = saved["loop"]
    result.history, result.best_epoch = loop["history"], loop["best_epoch"]
    result.val_correct = saved["val_correct"].numpy() if saved["val_correct"] is not None else None
    result.val_confusion = _array(saved.get("val_confusion"))
    best_key = tuple(loop["best_key"]) if loop["best_key"] else None
    return loop["step"], loop["elapsed"], saved["best_state"], best_key


def _finished_state(result: TrainResult) -> dict:
    """A checkpoint of a training that ended: the kept weights and the result."""
    fields = ("history", "status", "best_epoch", "precision", "batch_size", "lr", "peak_lr", "seconds", "stop_reason",
              "metric",
              "gradients")
    return {"finished": True, "model": result.model.state_dict(), "val_correct": _tensor(result.val_correct),
            "val_confusion": _tensor(result.val_confusion), "result": {name: getattr(result, name) for name in fields}}


def _finished_result(saved: dict, result: TrainResult) -> TrainResult:
    """`result` (its model built) as the finished checkpoint `saved` recorded it."""
    result.model.load_state_dict(saved["model"])
    for name, value in saved["result"].items():
        setattr(result, name, value)
    result.val_correct = saved["val_correct"].numpy() if saved["val_correct"] is not None else None
    result.val_confusion = _array(saved.get("val_confusion"))  # None in a checkpoint written before it
    return result


def _tensor(values: np.ndarray | None) -> torch.Tensor | None:
    return torch.from_numpy(np.asarray(values)) if values is not None else None


def _array(values: torch.Tensor | None) -> np.ndarray | None:
    return values.numpy() if values is not None else None


def _endless(batches: BatchLoader):
    """The loader's batches, epoch after epoch, for as long as training asks."""
    while True:
        yield from batches


def _ending(stop_reason: str | None, out_of_time: bool, no_progress: bool) -> str:
    """The status after an epoch: stopped (by a callback), time_budget, early_stopped, or completed (go on)."""
    if stop_reason:
        return "stopped"
    if out_of_time:
        return "time_budget"
    return "early_stopped" if no_progress else "completed"
