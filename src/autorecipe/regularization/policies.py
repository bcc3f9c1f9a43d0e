"""Automatic augmentation policies (kornia): RandAugment, TrivialAugment, AutoAugment's CIFAR-10 policy."""

from __future__ import annotations

import torch
from kornia.augmentation.auto import AutoAugment, RandAugment, TrivialAugment
from torch import nn

from ..knobs import Choice, IntRange, Interval, Options, knob

POLICY = knob(
    "policy", bucket="regularization", default="none", baseline="none",
    valid=Options(("none", "randaugment", "trivialaugment", "autoaugment")),
    search=Choice(("none", "randaugment", "trivialaugment", "autoaugment")),
    doc="Automatic augmentation: RandAugment (Cubuk et al., 2020), TrivialAugment (Mueller & Hutter, 2021) "
        "or AutoAugment's CIFAR-10 policy (Cubuk et al., 2019); kornia draws the operations once per batch.",
)
RANDAUGMENT_N = knob(
    "randaugment_n", bucket="regularization", default=2, baseline=2, valid=Interval(int, 1, 10),
    search=IntRange(1, 3), when=("policy", ("randaugment",)),
    doc="RandAugment: operations applied in a row.",
)
RANDAUGMENT_M = knob(
    "randaugment_m", bucket="regularization", default=9, baseline=9, valid=Interval(int, 1, 29),
    search=IntRange(3, 15), when=("policy", ("randaugment",)),
    doc="RandAugment: magnitude of every operation, on a scale of 0 to 30.",
)


class GrayAsRgb(nn.Module):
    """Run an RGB-only augmentation on single-channel images, as three equal channels."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 1:
            return self.inner(x)
        return self.inner(x.expand(-1, 3, -1, -1)).mean(1, keepdim=True)


def build_policy(section) -> nn.Module | None:
    """The recipe's automatic augmentation policy, or None."""
    if section.policy == "randaugment":
        return GrayAsRgb(RandAugment(section.randaugment_n, section.randaugment_m))
    if section.policy == "trivialaugment":
        return GrayAsRgb(TrivialAugment())
    if section.policy == "autoaugment":
        return GrayAsRgb(AutoAugment("cifar10"))
    return None
