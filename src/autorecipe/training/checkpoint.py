"""Epoch checkpoints: the state a training needs to go on (weights, optimizer, schedule position, weight average,
early stopping, the semi-supervised objective's running statistics, every random generator), written at the end of
an epoch and on an interrupt, so that `fit --resume` continues a killed or interrupted fit where it stopped.

A checkpoint is read with `torch.load(weights_only=True)`: tensors, numbers, strings and containers only, never
code. Writing one costs at most CHECKPOINT_SHARE of the training time (checkpoints are spaced to keep it so).
"""

from __future__ import annotations

import io
import logging
import random
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import AutorecipeError
from ..files import write_atomic

log = logging.getLogger("autorecipe")

CHECKPOINT_SHARE = 0.02  # the most of the training time that writing checkpoints may take
LEAST_INTERVAL = 10.0  # seconds between two checkpoints, at the least


class Checkpoint:
    """One training's checkpoint file; `stage(name)` gives the file of another training of the same fit
    (noisy student's teacher and students)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.saved_at: float | None = None
        self.interval = LEAST_INTERVAL

    def stage(self, name: str) -> Checkpoint:
        return Checkpoint(self.path.with_name(f"{self.path.stem}-{name}{self.path.suffix}"))

    def due(self) -> bool:
        """Whether an epoch that ends now should write a checkpoint (the first does; then spaced out)."""
        return self.saved_at is None or time.perf_counter() - self.saved_at >= self.interval

    def save(self, state: dict) -> None:
        """Write `state` atomically (a kill leaves the previous checkpoint whole) and space the next one."""
        began = time.perf_counter()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        try:
            write_atomic(self.path, buffer.getvalue())
        except OSError as error:  # a full disk: training goes on; what it cannot keep, saving the run will say
            log.warning("checkpoint not written to %s (%s): a kill now loses the training since the last one",
                        self.path, error.strerror or error)
        self.saved_at = time.perf_counter()
        self.interval = max(LEAST_INTERVAL, (self.saved_at - began) / CHECKPOINT_SHARE)

    def load(self) -> dict | None:
        """The saved state (tensors on the CPU), or None when nothing was saved yet."""
        if not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # a truncated or foreign file: any unpickling error
            raise AutorecipeError(f"checkpoint {self.path} cannot be read: damaged, or not one autorecipe wrote "
                                  f"({type(error).__name__}); delete it to train that part again") from None

    def remove(self) -> None:
        """Delete this checkpoint and its stages'."""
        for path in self.path.parent.glob(f"{self.path.stem}*{self.path.suffix}"):
            path.unlink(missing_ok=True)


def generator_states(mix_rng: np.random.Generator, generators: list[torch.Generator]) -> dict:
    """Every random generator a training draws from: Python's, NumPy's, PyTorch's (CPU and CUDA), the mixing
    generator and the loaders' shuffling generators."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()
    return {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "mix": mix_rng.bit_generator.state, "loaders": [g.get_state() for g in generators]}


def restore_generators(states: dict, mix_rng: np.random.Generator, generators: list[torch.Generator]) -> None:
    """Put back what `generator_states` saved."""
    random.setstate(_tuples(states["python"]))
    numpy_state = dict(states["numpy"])
    numpy_state["state"] = {**numpy_state["state"], "key": np.array(numpy_state["state"]["key"], dtype=np.uint32)}
    np.random.set_state(numpy_state)
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    mix_rng.bit_generator.state = states["mix"]
    for generator, state in zip(generators, states["loaders"]):
        generator.set_state(state)


def _tuples(value):
    """Python's generator state with its tuples back (a saved tuple may come back as a list)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
