"""Building blocks shared by the model families, and the architecture knobs they apply.

A family builds its layers through `Parts`, which resolves each knob against the family's
own choice ("auto" = the family's published design) and hands out activations, norms,
convolutions, pooling, squeeze-excite and heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..knobs import Choice, IntRange, Interval, Options, Uniform, knob

if TYPE_CHECKING:
    from .registry import ModelSpec

LARGE_IMAGE = 96  # from this side on, the stem downsamples by 4 as in ImageNet networks

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leaky_relu": lambda: nn.LeakyReLU(0.1, inplace=True),
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "celu": nn.CELU,
    "tanh": nn.Tanh,
    "hardswish": nn.Hardswish,  # MobileNetV3's own choice
}
CHOSEN_ACTIVATIONS = ("relu", "leaky_relu", "gelu", "elu", "silu", "mish", "celu", "tanh")

ACTIVATION = knob(
    "activation", bucket="architecture", default="auto", baseline="auto",
    valid=Options(("auto",) + CHOSEN_ACTIVATIONS),
    search=Choice(("auto", "relu", "leaky_relu", "gelu", "silu", "mish", "elu", "celu")),
    doc="Non-linearity after each convolution (or in the transformer MLP); auto = the family's own.",
)
POOLING = knob(
    "pooling", bucket="architecture", default="auto", baseline="auto",
    valid=Options(("auto", "max", "avg", "avgmax", "conv")),
    search=Choice(("auto", "max", "avg", "avgmax", "conv")),
    doc="2x downsampling in families that pool: max, average, their sum (avgmax), or a strided 3x3 "
        "convolution (conv); auto = the family's own.",
)
NORMALIZATION = knob(
    "normalization", bucket="architecture", default="auto", baseline="auto",
    valid=Options(("auto", "batch", "group", "layer", "none")), search=Choice(("auto", "batch", "group", "layer")),
    doc="Feature normalization after convolutions: batch, group (up to 32 groups), layer (over "
        "channels), or none; auto = the family's own.",
)
STEM_STRIDE = knob(
    "stem_stride", bucket="architecture", default=1, baseline=1, valid=Interval(int, 1, 4), search=IntRange(1, 2),
    doc=f"Stride of the first convolution for images smaller than {LARGE_IMAGE} px (larger images "
        "always get the ImageNet stem, 4x smaller).",
)
COLOUR_STEM = knob(
    "colour_stem", bucket="architecture", default=False, baseline=False, search=Choice((False, True)),
    doc="A learned 1x1 colour transform (started at identity) before the network's stem.",
)
SQUEEZE_EXCITE = knob(
    "squeeze_excite", bucket="architecture", default="auto", baseline="auto", valid=Options(("auto", "on", "off")),
    search=Choice(("auto", "on", "off")),
    doc="Squeeze-and-excitation channel gates in each block (Hu et al., 2018); auto = the family's own.",
)
HEAD = knob(
    "head", bucket="architecture", default="auto", baseline="auto",
    valid=Options(("auto", "avg", "max", "fullconv")), search=Choice(("auto", "avg", "max", "fullconv")),
    doc="Classifier head: global average or max pooling then a linear layer, or fully convolutional "
        "(a 1x1 convolution to class scores, averaged over positions); auto = the family's own.",
)
FLATTENED = knob(
    "flattened", bucket="architecture", default=False, baseline=False, search=Choice((False, True)),
    doc="Replace each kxk convolution by a kx1 then a 1xk one (flattened convolutions, Jin et al., 2014).",
)
DEPTH = knob(
    "depth", bucket="architecture", default=1.0, baseline=1.0, valid=Interval(float, 0.1, 4.0),
    search=Uniform(0.5, 1.5),
    doc="Multiplier on the number of blocks in every stage (at least one each).",
)


def channels(base: int, width: float) -> int:
    """A layer's channel count after the width multiplier (at least 8)."""
    return max(8, int(round(base * width)))


def repeats(base: int, depth: float) -> int:
    """A stage's block count after the depth multiplier (at least 1)."""
    return max(1, int(round(base * depth)))


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of each position of a (N, C, H, W) map."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.LayerNorm(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class AvgMaxPool(nn.Module):
    """The sum of 2x2 average and max pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2, ceil_mode=True) + F.max_pool2d(x, 2, ceil_mode=True)


class Scale(nn.Module):
    """Multiply by a constant: keeps the logits of a max-pooled head small at initialization."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"


class SqueezeExcite(nn.Module):
    """Channel gates from globally pooled features: x * gate(mean(x))."""

    def __init__(self, c: int, hidden: int, act: nn.Module, gate: nn.Module | None = None):
        super().__init__()
        self.reduce = nn.Conv2d(c, hidden, 1)
        self.act = act
        self.expand = nn.Conv2d(hidden, c, 1)
        self.gate = gate or nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class ColourStem(nn.Module):
    """A learned 1x1 colour transform, started at identity."""

    def __init__(self, c: int):
        super().__init__()
        self.mix = nn.Conv2d(c, c, 1)
        with torch.no_grad():
            nn.init.dirac_(self.mix.weight)
            self.mix.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(x)


class Residual(nn.Module):
    """x + f(x), with f skipped at random in training when drop_path > 0 (stochastic depth)."""

    def __init__(self, body: nn.Module, drop_path: float = 0.0):
        super().__init__()
        self.body = mark_residual_end(body)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        return x + self.drop_path(self.body(x))


NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def mark_residual_end(branch: nn.Module) -> nn.Module:
    """Flag the last norm of a residual branch, whose scale `zero_init_residual` sets to zero."""
    norms = [m for m in branch.modules() if isinstance(m, NORMS) and m.weight is not None]
    if norms:
        norms[-1].residual_end = True
    return branch


class StridedPointwise(nn.Conv2d):
    """A 1x1 convolution with a stride, computed as subsampling then a 1x1 convolution (the same
    result): PyTorch 2.13's CPU backward of a channels-last strided 1x1 convolution crashes the
    process for some thin layers on large images (e.g. 8 channels at 56 px)."""

    def __init__(self, c_in: int, c_out: int, stride: int, bias: bool = False):
        super().__init__(c_in, c_out, 1, bias=bias)
        self.step = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x[:, :, :: self.step, :: self.step])


@dataclass(frozen=True)
class Parts:
    """Layer factories with the recipe's architecture knobs resolved against a family's own choices."""

    activation: str
    pooling: str
    normalization: str
    head_kind: str
    squeeze_excite: bool
    flattened: bool
    dropout: float

    @classmethod
    def of(cls, spec: ModelSpec, *, activation: str = "relu", pooling: str = "max", normalization: str = "batch",
           head: str = "avg", squeeze_excite: bool = False) -> Parts:
        """The parts for `spec`, where "auto" knob values take the family's choices given here."""
        arch = spec.arch
        se = squeeze_excite if arch.squeeze_excite == "auto" else arch.squeeze_excite == "on"
        return cls(_own(arch.activation, activation), _own(arch.pooling, pooling),
                   _own(arch.normalization, normalization), _own(arch.head, head), se, arch.flattened,
                   spec.dropout)

    def act(self, inplace: bool = True) -> nn.Module:
        """A fresh activation module (ReLU and LeakyReLU work in place unless told not to)."""
        module = ACTIVATIONS[self.activation]()
        if not inplace and hasattr(module, "inplace"):
            module.inplace = False
        return module

    def norm(self, c: int) -> nn.Module:
        """A normalization layer for c channels (identity for none)."""
        if self.normalization == "batch":
            return nn.BatchNorm2d(c)
        if self.normalization == "group":
            return nn.GroupNorm(math.gcd(c, 32), c)
        if self.normalization == "layer":
            return LayerNorm2d(c)
        return nn.Identity()

    def norm_act(self, c: int) -> nn.Sequential:
        """Normalization then the activation, which works in place only on the norm's output: with
        normalization none it must leave its input alone (a shortcut or concatenation still needs it)."""
        return nn.Sequential(self.norm(c), self.act(inplace=self.normalization != "none"))

    def conv(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1,
             bias: bool = False) -> nn.Module:
        """A kxk convolution ('same' padding), flattened into kx1 then 1xk when the knob asks."""
        if self.flattened and kernel > 1 and groups == 1:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, (kernel, 1), (stride, 1), (kernel // 2, 0), bias=False),
                nn.Conv2d(c_out, c_out, (1, kernel), (1, stride), (0, kernel // 2), bias=bias))
        if kernel == 1 and stride > 1 and groups == 1:
            return StridedPointwise(c_in, c_out, stride, bias)
        return nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=bias)

    def conv_norm_act(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                      act: bool = True) -> nn.Sequential:
        """Convolution, normalization and (optionally) the activation."""
        layers = [self.conv(c_in, c_out, kernel, stride, groups, bias=self.normalization == "none"),
                  self.norm(c_out)]
        if act:
            layers.append(self.act())
        return nn.Sequential(*layers)

    def pool(self, c: int) -> nn.Module:
        """2x downsampling of a c-channel map (odd sides round up)."""
        if self.pooling == "avg":
            return nn.AvgPool2d(2, ceil_mode=True)
        if self.pooling == "avgmax":
            return AvgMaxPool()
        if self.pooling == "conv":
            return self.conv_norm_act(c, c, 3, stride=2)
        return nn.MaxPool2d(2, ceil_mode=True)

    def se(self, c: int, hidden: int, gate: nn.Module | None = None) -> nn.Module:
        """A squeeze-excite gate when the knob (or the family) wants one, else identity."""
        return SqueezeExcite(c, max(1, hidden), self.act(), gate) if self.squeeze_excite else nn.Identity()

    def stem(self, c_in: int, c_out: int, spec: ModelSpec) -> nn.Sequential:
        """3x3 at `stem_stride` for small images; 7x7 stride 2 plus max pooling (4x smaller) for large ones."""
        if spec.image_size < LARGE_IMAGE:
            return self.conv_norm_act(c_in, c_out, 3, stride=spec.arch.stem_stride)
        return nn.Sequential(self.conv_norm_act(c_in, c_out, 7, stride=2), nn.MaxPool2d(3, stride=2, padding=1))

    def head(self, c: int, num_classes: int, logit_scale: float = 1.0) -> nn.Sequential:
        """Pooling, dropout and the classifier, or a fully convolutional classifier with averaged scores.

        `logit_scale` multiplies the scores (the fast CIFAR-10 designs scale them down by 8 or 9;
        without it their max-pooled features give logits so large that early training diverges).
        """
        if self.head_kind == "fullconv":
            layers = [nn.Dropout(self.dropout), nn.Conv2d(c, num_classes, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        else:
            pooling = nn.AdaptiveMaxPool2d(1) if self.head_kind == "max" else nn.AdaptiveAvgPool2d(1)
            layers = [pooling, nn.Flatten(), nn.Dropout(self.dropout), nn.Linear(c, num_classes)]
        if logit_scale != 1.0:
            layers.append(Scale(logit_scale))
        return nn.Sequential(*layers)


def _own(value: str, family: str) -> str:
    return family if value == "auto" else value


def small_stem_stride(spec: ModelSpec) -> int:
    """The stem's stride: `stem_stride` for small images, 2 for large ones (families with a 3x3 s2 stem)."""
    return spec.arch.stem_stride if spec.image_size < LARGE_IMAGE else 2


class DropPath(nn.Module):
    """Zero a whole residual branch for a random subset of samples (training only), rescaling the rest."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)


def drop_path_rates(peak: float, blocks: int) -> list[float]:
    """Per-block stochastic depth rates, linear from 0 to `peak`."""
    if blocks <= 1:
        return [peak] * blocks
    return [peak * i / (blocks - 1) for i in range(blocks)]
