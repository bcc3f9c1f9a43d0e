"""Gradient health: per-layer gradient norms sampled during training, and a warning when they vanish or explode.

Every `every`-th optimizer step the norms of the weight gradients of every layer (parameters with two or more
dimensions: convolutions, linear layers, embeddings) are read in one fused call and one device sync, after
loss-scale unscaling and before clipping. The samples are thinned (every other one dropped, the interval
doubled) when they reach MAX_SAMPLES, so a long training keeps a bounded record at a falling cost; and the
interval doubles whenever sampling has taken more than COST_SHARE of the time since the first step.
"""

from __future__ import annotations

import math
import statistics
import time

import torch
from torch import nn

EVERY = 10  # optimizer steps between samples at first
COST_SHARE = 0.005  # sampling kept under this share of training time (the target is under 2%)
MAX_SAMPLES = 256  # samples kept; at this many, every other one goes and the interval doubles
VANISHING = 1e-6  # a layer's median norm below this share of the largest layer's median: vanishing
EXPLODING = 100.0  # a norm this many times its layer's median: exploding
FILE = "gradients.json"


class GradientMonitor:
    """Samples the per-layer gradient norms of `model` as training steps (`observe` after each backward)."""

    def __init__(self, model: nn.Module):
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad and p.ndim > 1]
        self.layers = [name.replace("_orig_mod.", "").removesuffix(".weight") for name, _ in named]
        self.parameters = [p for _, p in named]
        self.every, self.optimizer_steps, self.seconds = EVERY, 0, 0.0
        self.started: float | None = None  # the clock at the first step
        self.steps: list[int] = []
        self.norms: list[list[float | None]] = []
        self.skipped = 0  # samples with a non-finite gradient under fp16 loss scaling (the step is skipped too)

    def observe(self, scaled: bool = False) -> None:
        """Called once an optimizer step's gradients are complete; samples every `every`-th call.
        `scaled`: fp16 loss scaling is on, so a non-finite gradient is the scaler's to skip, not a fault."""
        self.optimizer_steps += 1
        if self.started is None:
            self.started = time.perf_counter()
        if self.optimizer_steps % self.every:
            return
        began = time.perf_counter()
        present = [p.grad for p in self.parameters if p.grad is not None]
        values = iter(torch.stack(torch._foreach_norm(present)).float().cpu().tolist() if present else [])
        norms = [next(values) if p.grad is not None else None for p in self.parameters]
        if scaled and not all(math.isfinite(n) for n in norms if n is not None):
            self.skipped += 1
        else:
            self.steps.append(self.optimizer_steps)
            self.norms.append(norms)
            if len(self.steps) >= MAX_SAMPLES:
                self.steps, self.norms, self.every = self.steps[1::2], self.norms[1::2], 2 * self.every
        now = time.perf_counter()
        self.seconds += now - began
        if self.seconds > COST_SHARE * (now - self.started):
            self.every *= 2

    def state_dict(self) -> dict:
        return {"every": self.every, "optimizer_steps": self.optimizer_steps, "seconds": self.seconds,
                "started": None,
                "steps": self.steps, "norms": self.norms, "skipped": self.skipped}

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def record(self, train_seconds: float) -> dict:
        """gradients.json: the layers, the sampled steps and norms, the sampling's share of training time and the
        warnings."""
        return {"layers": self.layers, "steps": self.steps, "norms": self.norms, "every": self.every,
                "seconds": self.seconds, "cost_share": self.seconds / train_seconds if train_seconds > 0 else 0.0,
                "skipped_samples": self.skipped, "warnings": gradient_warnings(self.layers, self.steps, self.norms)}


def gradient_warnings(layers: list[str], steps: list[int], norms: list[list[float | None]]) -> list[str]:
    """Plain-words warnings on sampled norms: non-finite or exploding (a norm EXPLODING times its layer's
    median) and vanishing (a layer's median below VANISHING of the largest layer's median)."""
    warnings = []
    columns = [[(s, row[i]) for s, row in zip(steps, norms) if row[i] is not None] for i in range(len(layers))]
    for layer, column in zip(layers, columns):
        bad = next((s for s, n in column if not math.isfinite(n)), None)
        if bad is not None:
            warnings.append(f"exploding gradients: {layer}'s gradient was not finite at step {bad}")
    medians = {layer: statistics.median(n for _, n in column) for layer, column in zip(layers, columns)
               if column and all(math.isfinite(n) for _, n in column)}
    for layer, column in zip(layers, columns):
        median = medians.get(layer)
        peak = max(column, key=lambda c: c[1], default=None)
        if median and peak is not None and peak[1] > EXPLODING * median:
            warnings.append(f"exploding gradients: {layer}'s norm reached {peak[1]:.3g} at step {peak[0]}, "
                            f"{peak[1] / median:.0f} times its median {median:.3g}")
    largest = max(medians.values(), default=0.0)
    faint = [layer for layer, median in medians.items() if largest > 0 and median < VANISHING * largest]
    if faint:
        warnings.append(f"vanishing gradients: {len(faint)} layer(s) ({', '.join(faint[:5])}"
                        f"{', ...' if len(faint) > 5 else ''}) have median norms under {VANISHING:g} of the largest "
                        f"layer's ({largest:.3g})")
    return warnings
