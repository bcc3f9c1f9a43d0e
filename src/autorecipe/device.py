"""Pick the compute device: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

from .errors import AutorecipeError


def choose_device(name: str | None = None) -> torch.device:
    """The named device (validated), or the best available one when `name` is None or "auto"."""
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise AutorecipeError(f"--device {name!r}: unknown device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AutorecipeError(f"--device {name}: CUDA is not available on this machine; use cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise AutorecipeError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise AutorecipeError(f"--device {name}: Apple MPS is not available on this machine; use cpu or auto")
    if device.type not in ("cpu", "cuda", "mps"):
        raise AutorecipeError(f"--device {name}: unsupported device type; use auto, cpu, cuda, cuda:N or mps")
    return device
