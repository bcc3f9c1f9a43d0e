"""Vision Transformers (Dosovitskiy et al., 2021): ViT-tiny and ViT-small with a configurable patch size.

Patches are embedded by a strided convolution, a class token and learned position
embeddings are added, then pre-norm transformer blocks; heads of 64 dimensions at width 1.
Honours depth, activation (the MLP's), head (auto = the class token; avg/max pool the
tokens; fullconv averages per-token predictions) and patch_size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import ModelSpec, register
from ..errors import AutorecipeError
from ..knobs import Choice, Interval, knob
from .blocks import ACTIVATIONS, DropPath, drop_path_rates, repeats

VIT_MODELS = ("vit_tiny", "vit_small")
PATCH_SIZE = knob(
    "patch_size", bucket="architecture", default=0, baseline=0, valid=Interval(int, 0, 64),
    search=Choice((0, 2, 4, 8)),
    when=("model", VIT_MODELS),
    doc="ViT patch side in pixels; 0 = automatic: image side / 8, at most 16 (64 patches for small images, "
        "16x16 patches at 224 px).",
)
HEAD_DIM = 64
MLP_RATIO = 4
POSITION_STD = 0.02  # initial scale of the learned position embeddings


def patch_size(spec: ModelSpec) -> int:
    """The patch side: the knob's, or the automatic choice; an error if it exceeds the image."""
    size = spec.arch.patch_size or min(16, max(1, spec.image_size // 8))
    if size > spec.image_size:
        raise AutorecipeError(f"patch_size {size} is larger than the {spec.image_size} px images; "
                              f"choose at most {spec.image_size}, or 0 for automatic")
    return size


class PatchEmbed(nn.Module):
    """Image to tokens: strided convolution, class token prepended, position embeddings added."""

    def __init__(self, c_in: int, dim: int, patch: int, image_size: int):
        super().__init__()
        self.proj = nn.Conv2d(c_in, dim, patch, stride=patch)
        self.side = image_size // patch  # the grid of patches the position embeddings are built for
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.position = nn.Parameter(torch.randn(1, self.side ** 2 + 1, dim) * POSITION_STD)

    def forward(self, x):
        x = self.proj(x)
        grid = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.positions(grid)

    def positions(self, grid: torch.Size) -> torch.Tensor:
        """The position embeddings, resized (bicubically) to a grid of another size than the one built for
        (images trained smaller than they are evaluated: the data bucket's train_size)."""
        side = self.side
        if tuple(int(g) for g in grid) == (side, side):  # int(): a traced (exported) graph's sizes are tensors
            return self.position
        cls, rest = self.position[:, :1], self.position[:, 1:]
        rest = rest.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        rest = F.interpolate(rest, size=tuple(grid), mode="bicubic", align_corners=False)
        return torch.cat([cls, rest.flatten(2).transpose(1, 2)], 1)


class Attention(nn.Module):
    """Multi-head self-attention."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, t, d))


class TransformerBlock(nn.Module):
    """x + attention(norm(x)), then x + mlp(norm(x)), each branch with stochastic depth."""

    def __init__(self, dim: int, heads: int, act: nn.Module, drop_path: float):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, MLP_RATIO * dim), act, nn.Linear(MLP_RATIO * dim, dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class TokenHead(nn.Module):
    """Final norm, then the class token (cls), the mean or max of the patch tokens, or averaged per-token logits."""

    def __init__(self, dim: int, num_classes: int, kind: str, dropout: float):
        super().__init__()
        self.norm, self.kind = nn.LayerNorm(dim), kind
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.norm(x)
        if self.kind == "fullconv":
            return self.linear(self.dropout(x[:, 1:])).mean(1)
        pooled = {"avg": lambda: x[:, 1:].mean(1), "max": lambda: x[:, 1:].amax(1)}.get(self.kind, lambda: x[:, 0])()
        return self.linear(self.dropout(pooled))


def vit(spec: ModelSpec, heads: int, blocks: int) -> nn.Sequential:
    """Patch embedding, `blocks` transformer blocks of `heads` heads, and the token head."""
    dim = heads * max(8, int(round(HEAD_DIM * spec.width)))
    act = spec.arch.activation
    count = repeats(blocks, spec.depth)
    rates = drop_path_rates(spec.drop_path, count)
    layers: list[nn.Module] = [PatchEmbed(spec.in_channels, dim, patch_size(spec), spec.image_size)]
    layers += [TransformerBlock(dim, heads, ACTIVATIONS["gelu" if act == "auto" else act](), rate) for rate in rates]
    layers.append(TokenHead(dim, spec.num_classes, spec.arch.head, spec.dropout))
    return nn.Sequential(*layers)


@register("vit_tiny", knobs=("depth", "activation", "head", "patch_size"))
def vit_tiny(spec: ModelSpec) -> nn.Module:
    """ViT-Ti: 12 blocks, 3 heads, 192 dimensions at width 1."""
    return vit(spec, 3, 12)


@register("vit_small", knobs=("depth", "activation", "head", "patch_size"))
def vit_small(spec: ModelSpec) -> nn.Module:
    """ViT-S: 12 blocks, 6 heads, 384 dimensions at width 1 (22M parameters at 224 px, patch 16)."""
    return vit(spec, 6, 12)
