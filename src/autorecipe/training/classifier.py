"""The classifier: input normalization, the optional colour stem, then the recipe's network.

The network comes from the architecture bucket; its weight initialization and batch-norm
settings (optimization knobs) are applied here, once it is built.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..architecture import build
from ..architecture.blocks import ColourStem
from ..optimization.batchnorm import configure_batchnorm
from ..optimization.initialization import initialize
from ..optimization.normalization import Normalize


class Classifier(nn.Module):
    """Takes float images in [0, 1], shaped (N, C, S, S); returns class logits.

    `network` (a module or factory from the Python API) replaces the recipe's model.
    """

    def __init__(self, recipe, num_classes: int, in_channels: int, image_size: int,
                 network: nn.Module | Callable | None = None):
        super().__init__()
        self.normalize = Normalize(in_channels)
        self.colour = ColourStem(in_channels) if recipe.architecture.colour_stem else nn.Identity()
        self.network = build(recipe, num_classes, in_channels, image_size, network)
        initialize(recipe.optimization, self.network)
        configure_batchnorm(recipe.optimization, self.network)

    def forward(self, x):
        return self.network(self.colour(self.normalize(x)))

    def train(self, mode: bool = True) -> Classifier:
        """Training mode, except for batch norms whose scale and shift are frozen (a frozen backbone's):
        they keep their running statistics, as in evaluation."""
        super().train(mode)
        if mode:
            for module in self.network.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine \
                        and not module.weight.requires_grad:
                    module.eval()
        return self

