"""The training setup: everything a training step needs, built once from (recipe, data, device, seed).

`train` and both finders build their model, optimizer, penalties, augmentation, mixing,
precision and optimizer step here, and step through `TrainingSetup.step`, so they train the
same thing. Their deliberate differences are the arguments of `build_setup`: the finders
leave out the weight average (`ema=False`, they never evaluate) and compilation
(`compile=False`, a compile costs more than their few steps), and copy a module given in
place of the recipe's model (`copy_network=True`). They also train the whole network: a
frozen backbone (freeze_epochs) is the loop's, epoch by epoch.
"""

from __future__ import annotations

import copy
import logging
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..architecture.pretrained import layers, load_pretrained
from ..architecture.registry import sgd_lr
from ..data.balance import class_weights, resolve_balance, sampling_weights
from ..data.dataset import ImageData
from ..data.resolution import training_size, training_sizes
from ..errors import AutorecipeError
from ..optimization.compilation import compiled
from ..optimization.finetune import layerwise_groups
from ..optimization.optimizers import OPTIMIZERS, build_optimizer
from ..optimization.precision import autocast, resolve_precision
from ..optimization.schedule import batch_size, peak_lr
from ..recipe import Recipe
from ..regularization.augment import FLIP_SAMPLE, build_augmentation, flips_keep_classes
from ..regularization.ema import Ema, build_ema
from ..regularization.loss import training_loss
from ..regularization.mixing import mix
from ..regularization.weight_decay import attach_penalties, decay_mode, parameter_groups
from .auxiliary import UnlabeledObjective
from .classifier import Classifier
from .scoring import layout
from .step import Stepper

log = logging.getLogger("autorecipe")

NORMALIZE_SAMPLE = 10_000  # training images the input statistics are measured on, at most


def resolve_lr(recipe: Recipe) -> Recipe:
    """`recipe` with lr 0 (auto) replaced by its optimizer's usual peak lr for a batch of 512
    (for SGD, the model's own); a recipe with an lr is returned as it is."""
    opt = recipe.optimization
    if opt.lr:
        return recipe
    auto = OPTIMIZERS[opt.optimizer].auto_lr
    return recipe.with_values({"lr": sgd_lr(recipe.architecture.model) if auto is None else auto})


def resolve_flip(recipe: Recipe, train_data: ImageData) -> Recipe:
    """`recipe` with hflip auto decided on the training images (flips_keep_classes); else as it is."""
    if recipe.regularization.hflip != "auto":
        return recipe
    sample = train_data.subset(np.random.default_rng(0).permutation(len(train_data))[:FLIP_SAMPLE])
    keep, plain, mirrored = flips_keep_classes(sample.images(), sample.y)
    log.info("hflip auto: %s (the nearest training image has the same label for %.0f%% of the images and %.0f%% "
             "of their mirrors)", "on" if keep else "off: a flip changes the class", 100 * plain, 100 * mirrored)
    return recipe.with_values({"hflip": keep})


def resolve_balance_knob(recipe: Recipe, train_data: ImageData) -> Recipe:
    """`recipe` with class_balance auto decided on the training images' class counts; else as it is."""
    if recipe.data.class_balance != "auto":
        return recipe
    return recipe.with_values({"class_balance": resolve_balance(recipe.data, train_data.class_counts())})


MAX_SEED = 2**32 - 1  # NumPy's legacy generators (and Optuna's samplers) take seeds up to this


def check_seed(seed) -> None:
    """A seed must be an integer from 0 to MAX_SEED."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise AutorecipeError(f"seed {seed!r}: expected an integer from 0 to {MAX_SEED}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (model initialization and augmentation)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class TrainingSetup:
    """A recipe's classifier with its optimizer, penalties, augmentation, precision and step, on a device."""

    recipe: Recipe  # with the automatic lr resolved
    model: Classifier
    layers: list[nn.Module]  # the network's layers in depth order, the head last
    optimizer: torch.optim.Optimizer
    augment: nn.Module
    ema: Ema | None
    stepper: Stepper
    forward: nn.Module  # the model, compiled when the recipe asks
    precision: str
    batch_size: int
    peak_lr: float
    device: torch.device
    num_classes: int
    mix_rng: np.random.Generator
    objective: UnlabeledObjective | None = None  # learning from unlabeled images too (training.auxiliary)
    class_weights: torch.Tensor | None = None  # per-class loss weights (data.balance), on the device
    sampling_weights: np.ndarray | None = None  # per-image sampling weights (data.balance)

    def state_dict(self) -> dict:
        """Everything of the setup that training changes: weights, optimizer, step, weight average, objective
        and the mixing generator."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "stepper": self.stepper.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
                "objective": self.objective.state_dict() if self.objective else None}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])  # in place: the optimizer's and EMA's references stay valid
        self.optimizer.load_state_dict(state["optimizer"])
        self.stepper.load_state_dict(state["stepper"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        if self.objective is not None and state["objective"] is not None:
            self.objective.load_state_dict(state["objective"])

    def step(self, x: torch.Tensor, y: torch.Tensor, unlabeled: tuple[torch.Tensor, torch.Tensor] | None = None,
             progress: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Train on one batch of [0, 1] images (augmented and mixed as the recipe says) and, with an
        objective, a batch of unlabeled ones (images, true labels or -1) in the same forward pass (batch norm
        sees both); the optimizer steps every `accumulate` batches. Returns the labelled loss and logits,
        detached."""
        reg, channels_last = self.recipe.regularization, self.recipe.optimization.channels_last
        with torch.no_grad():
            x, target = mix(reg, self.augment(x), y, self.num_classes, self.mix_rng)
            if unlabeled is not None:
                x = torch.cat([x, self.objective.views(unlabeled[0])])
            x = layout(resized(x, training_size(self.recipe.data, x.shape[-1], progress)), channels_last)
        with autocast(self.device, self.precision):
            logits = self.forward(x)
        logits, view_logits = logits[:len(y)], logits[len(y):]
        loss = training_loss(reg, logits, target, self.class_weights)
        supervised = loss.detach()
        if unlabeled is not None:
            loss = loss + self.objective.loss(view_logits, progress, unlabeled[1])
        if self.stepper.backward(loss) and self.ema is not None:
            self.ema.update()
        return supervised, logits.detach()


def resized(x: torch.Tensor, size: int) -> torch.Tensor:
    """A batch of square images at `size` px (antialiased when smaller)."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def check_training_sizes(recipe: Recipe, model: nn.Module, channels: int, image_size: int,
                         device: torch.device) -> None:
    """A model built for `image_size` px must also take the smaller sizes train_size trains at."""
    sizes = [s for s in training_sizes(recipe.data, image_size) if s != image_size]
    if not sizes:
        return
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, channels, min(sizes), min(sizes), device=device))
    except (RuntimeError, ValueError) as error:
        raise AutorecipeError(f"train_size {recipe.data.train_size}: the model built for {image_size} px images "
                              f"does not take {min(sizes)} px ones ({type(error).__name__}: {error}); use "
                              f"train_size 1.0 with this model") from None
    finally:
        model.train(was_training)


def build_setup(recipe: Recipe, train_data: ImageData, device: torch.device, seed: int = 0, network=None, *,
                ema: bool = True, compile: bool = True, copy_network: bool = False,
                objective: UnlabeledObjective | None = None) -> TrainingSetup:
    """Build the setup for `recipe` on `train_data`. `network` (an nn.Module or a factory) replaces the
    recipe's model; with `copy_network` a module is copied, so the caller's stays untouched; `objective`
    learns from unlabeled images (training.auxiliary)."""
    recipe = resolve_balance_knob(resolve_flip(resolve_lr(recipe), train_data), train_data)
    opt, reg = recipe.optimization, recipe.regularization
    seed_everything(seed)

    # The model: built, started from its weights file, its input statistics measured, on the device
    if copy_network and isinstance(network, nn.Module):
        network = copy.deepcopy(network)
    model = Classifier(recipe, len(train_data.classes), train_data.channels, train_data.image_size, network)
    load_pretrained(recipe.architecture, model.network)
    sample = train_data.rows[:: max(1, len(train_data) // NORMALIZE_SAMPLE)]
    model.normalize.fit(opt, train_data.x[np.sort(sample)])
    model.to(device=device, memory_format=torch.channels_last if opt.channels_last else torch.contiguous_format)
    check_training_sizes(recipe, model, train_data.channels, train_data.image_size, device)

    # The optimizer over layer-wise groups, with the recipe's penalties in its optimizer's form
    parts = layers(model.network)
    optimizer = build_optimizer(opt, layerwise_groups(opt, parts, parameter_groups(reg, model)))
    attach_penalties(decay_mode(reg, OPTIMIZERS[opt.optimizer].decay), optimizer)

    # Augmentation, weight average, precision and the optimizer step
    augment = build_augmentation(reg, train_data.image_size).to(device)
    average = build_ema(reg, model) if ema else None
    mix_rng = np.random.default_rng(seed)
    precision = resolve_precision(opt, device)
    stepper = Stepper(opt, model, optimizer, device, precision)
    forward = compiled(opt, model) if compile else model
    batch = batch_size(opt, len(train_data))
    if batch < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise AutorecipeError(f"a training batch of {batch} image with batch normalization: batch norm needs at "
                              "least 2 images a batch; give more training images, a batch_size of 2 or more, or "
                              "normalization: group (or layer)")
    # Imbalanced classes: per-class loss weights or per-image sampling weights
    counts = train_data.class_counts()
    weights = class_weights(recipe.data.class_balance, counts, recipe.data.balance_beta)
    return TrainingSetup(recipe, model, parts, optimizer, augment, average, stepper, forward, precision, batch,
                         peak_lr(opt, batch), device, len(train_data.classes), mix_rng, objective,
                         torch.tensor(weights, dtype=torch.float32, device=device) if weights is not None else None,
                         _draws(recipe, train_data))


def _draws(recipe: Recipe, train_data: ImageData) -> np.ndarray | None:
    """Per-image sampling weights: class-balanced sampling's, times the data's own (down-weighted examples);
    None: every image once an epoch."""
    balanced = sampling_weights(recipe.data.class_balance, train_data.y, len(train_data.classes))
    if train_data.weights is None:
        return balanced
    return train_data.weights * (balanced if balanced is not None else 1.0)
