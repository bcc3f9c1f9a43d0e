"""Numeric precision (with fp16 loss scaling) and memory layout."""

from __future__ import annotations

import contextlib

import torch

from ..errors import AutorecipeError
from ..knobs import Choice, Options, knob

PRECISION = knob(
    "precision", bucket="optimization", default="auto", baseline="fp32",
    valid=Options(("auto", "fp32", "bf16", "fp16")), search=Choice(("fp32", "bf16", "fp16")),
    doc="Autocast precision; fp16 scales the loss (GradScaler) so small gradients survive; auto = bf16 "
        "on CUDA GPUs that support it and on CPUs with native bf16 matrix units (AMX), fp32 elsewhere.",
)
CHANNELS_LAST = knob(
    "channels_last", bucket="optimization", default=True, baseline=False, search=Choice((True, False)),
    doc="Store images and convolution weights channels-last (faster convolutions on GPUs and CPUs).",
)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(section, device: torch.device) -> str:
    """The precision actually used on `device`: fp32, bf16 or fp16 (an error if the device cannot)."""
    if section.precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        if device.type == "cpu":
            return "bf16" if _cpu_has_amx() else "fp32"
        return "fp32"
    if section.precision in DTYPES and not _supported(device, DTYPES[section.precision]):
        raise AutorecipeError(f"optimization.precision: {section.precision} is not supported on {device} by "
                              f"torch {torch.__version__}; use fp32 or auto")
    return section.precision


def _supported(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether autocast to `dtype` runs a small convolution on `device`."""
    try:
        with torch.autocast(device.type, dtype=dtype):
            x = torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3, device=device), torch.ones(1, 1, 3, 3, device=device))
        return x.dtype == dtype
    except (RuntimeError, AssertionError):
        return False


def _cpu_has_amx() -> bool:
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def autocast(device: torch.device, precision: str):
    """A context that runs the forward pass in `precision`."""
    if precision in DTYPES:
        return torch.autocast(device.type, dtype=DTYPES[precision])
    return contextlib.nullcontext()


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A loss scaler, active for fp16 only (a pass-through otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
