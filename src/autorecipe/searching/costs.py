"""What a search leaves out because it would only cost time on this device: a precision the device
emulates rather than runs natively (fp16 on most CPUs trains at a few images a second), and
torch.compile where it does not pay.

A short probe times a few training steps of a small network in each searched precision; one
more than SLOWER times slower than fp32, or unsupported, leaves the space. Compiling is left
out on every device but CUDA: on the CPU its compile time exceeds what it saves in a trial
(benchmarks/RESULTS.md, techniques: 75 s a run against 45 s). New searches only: the narrowed
ranges are saved with the search's settings, so a resumed search keeps its space.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from ..optimization.precision import autocast
from ..training.batch_finder import synchronize

SLOWER = 2.0  # a precision this many times slower than fp32 is left out
PROBE_BATCH, PROBE_SIDE, PROBE_CHANNELS, PROBE_STEPS = 16, 16, 16, 5  # small: an emulated step is slow


def step_seconds(device: torch.device, precision: str) -> float | None:
    """Seconds of one training step of a small convolutional network in `precision`; None if it fails."""
    torch.manual_seed(0)
    c = PROBE_CHANNELS
    network = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1),
                            nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)).to(device)
    x = torch.rand(PROBE_BATCH, 3, PROBE_SIDE, PROBE_SIDE, device=device)
    y = torch.arange(PROBE_BATCH, device=device) % 10
    try:
        for step in range(PROBE_STEPS + 1):
            if step == 1:  # the first step warms up
                synchronize(device)
                began = time.perf_counter()
            with autocast(device, precision):
                loss = nn.functional.cross_entropy(network(x).float(), y)
            loss.backward()
        synchronize(device)
    except (RuntimeError, TypeError):
        return None
    return (time.perf_counter() - began) / PROBE_STEPS


def slow_precisions(device: torch.device, candidates: tuple[str, ...],
                    seconds=step_seconds) -> dict[str, str]:
    """The candidate precisions to leave out on `device`, each with the reason (fp32 always stays)."""
    reference = seconds(device, "fp32")
    slow = {}
    for precision in candidates:
        if precision == "fp32" or reference is None:
            continue
        taken = seconds(device, precision)
        if taken is None:
            slow[precision] = f"not supported on {device}"
        elif taken > SLOWER * reference:
            slow[precision] = f"{taken / reference:.0f}x slower than fp32 on {device} (emulated, not native)"
    return slow



def compile_left_out(device: torch.device) -> str | None:
    """Why torch.compile leaves a search on `device`; None where it may pay (CUDA)."""
    if device.type == "cuda":
        return None
    return (f"on {device.type} compiling costs more time than it saves in a trial "
            "(techniques benchmark: 75 s a run against 45 s)")
