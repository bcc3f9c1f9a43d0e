"""The classifier: input normalization followed by the recipe's network."""

from __future__ import annotations

from torch import nn

from .architecture import build
from .optimization.batchnorm import configure_batchnorm
from .optimization.normalization import Normalize


class Classifier(nn.Module):
    """Takes float images in [0, 1], shaped (N, C, S, S); returns class logits."""

    def __init__(self, recipe, num_classes: int, in_channels: int, image_size: int):
        super().__init__()
        self.normalize = Normalize(in_channels)
        self.network = build(recipe, num_classes, in_channels, image_size)
        configure_batchnorm(recipe.optimization, self.network)

    def forward(self, x):
        return self.network(self.normalize(x))
