"""Where a benchmark's figure came from: the commit of the code that ran and the processor (and GPU) it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch


def commit() -> str:
    """The short commit of the code that runs (recorded with each cell: cells of another design can be told)."""
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           cwd=Path(__file__).parent)
    return found.stdout.strip() or "unknown"


def machine() -> str:
    """The processor that ran a cell, and the GPU when one is visible (a fit differs across machines: compare
    cells from one)."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.exists() else []
    cpu = f"{names[0] if names else platform.processor() or platform.machine()} x{os.cpu_count()}"
    return f"{cpu}, {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else cpu
