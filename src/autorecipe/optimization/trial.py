"""A recipe's model, optimizer and training step, built as `train` builds them, for the finders' short runs."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..architecture.pretrained import load_pretrained
from ..data.dataset import ImageData
from ..inference import layout
from ..model import Classifier
from ..recipe import Recipe
from ..regularization.augment import build_augmentation
from ..regularization.label_smoothing import training_loss
from ..regularization.weight_decay import attach_penalties, decay_mode, parameter_groups
from .finetune import layerwise_groups
from .optimizers import build_optimizer, resolve_lr
from .precision import autocast, resolve_precision
from .step import Stepper


class Trial:
    """A freshly initialized classifier for `recipe` on `device`, stepped one batch at a time.

    `network` (a module, copied so the caller's stays untouched, or a factory) replaces the recipe's model.
    """

    def __init__(self, recipe: Recipe, train_data: ImageData, device: torch.device, seed: int = 0, network=None):
        recipe = resolve_lr(recipe)
        opt, self.reg = recipe.optimization, recipe.regularization
        torch.manual_seed(seed)
        self.device, self.channels_last = device, opt.channels_last
        network = copy.deepcopy(network) if isinstance(network, nn.Module) else network
        self.model = Classifier(recipe, len(train_data.classes), train_data.channels, train_data.image_size, network)
        load_pretrained(recipe.architecture, self.model.network)
        self.model.normalize.fit(opt, train_data.x[np.sort(train_data.rows[:: max(1, len(train_data) // 10_000)])])
        self.model.to(device=device, memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        self.optimizer = build_optimizer(opt, layerwise_groups(opt, self.model.network,
                                                               parameter_groups(self.reg, self.model)))
        attach_penalties(decay_mode(self.reg, opt.optimizer), self.optimizer)
        self.augment = build_augmentation(self.reg, train_data.image_size).to(device)
        self.precision = resolve_precision(opt, device)
        self.stepper = Stepper(opt, self.model, self.optimizer, device, self.precision)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Train on one batch of [0, 1] images; return its loss (detached)."""
        self.model.train()
        with torch.no_grad():
            x = layout(self.augment(x), self.channels_last)
        with autocast(self.device, self.precision):
            logits = self.model(x)
        loss = training_loss(self.reg, logits, y)
        self.stepper.backward(loss)
        return loss.detach()
