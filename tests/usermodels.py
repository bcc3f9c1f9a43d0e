"""Model factories that tests pass to `fit` by their import path, as a user would."""

from __future__ import annotations

from torch import nn


def tiny_net(num_classes: int, in_channels: int) -> nn.Module:
    """A small convolutional classifier."""
    return nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))


def wrong_output(num_classes: int) -> nn.Module:
    """Returns one score too many."""
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes + 1))


def not_a_module() -> str:
    return "a network"


NOT_CALLABLE = 3


def fixed_size_net(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """A classifier that takes images of its one size only (a flatten into a linear layer)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))


class NanNet(nn.Module):
    """Returns NaN logits once trained on: its training diverges at the first step."""

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        self.net = tiny_net(num_classes, in_channels)

    def forward(self, x):
        out = self.net(x)
        return out * float("nan") if self.training else out


def nan_net(num_classes: int, in_channels: int) -> nn.Module:
    """A classifier whose training loss is NaN from the first step."""
    return NanNet(num_classes, in_channels)
