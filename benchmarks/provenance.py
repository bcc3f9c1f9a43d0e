"""Where a benchmark's figure came from: the commit of the code that ran and the processor it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def commit() -> str:
    """The short commit of the code that runs (recorded with each cell: cells of another design can be told)."""
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           cwd=Path(__file__).parent)
    return found.stdout.strip() or "unknown"


def machine() -> str:
    """The processor that ran a cell (a fit differs across processors: compare cells from one)."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.exists() else []
    return f"{names[0] if names else platform.processor() or platform.machine()} x{os.cpu_count()}"
