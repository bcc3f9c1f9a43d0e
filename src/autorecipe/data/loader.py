"""Batches of float images in [0, 1] on the training device.

Data that fits on the device is copied there once as uint8 and batched by indexing;
larger data streams from the (memory-mapped) cache through worker processes.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .dataset import ImageData

DEVICE_SHARE = 0.4  # largest share of free device memory the resident uint8 data may take


class BatchLoader:
    """Iterates (images, labels) batches on `device`; with per-image `weights`, an epoch draws as many images
    as it holds, with replacement, each in proportion to its weight (class-balanced sampling)."""

    def __init__(self, data: ImageData, device: torch.device, batch_size: int, *, shuffle: bool,
                 drop_last: bool = False, seed: int = 0, resident: bool | None = None, workers: int | None = None,
                 weights: np.ndarray | None = None):
        self.data, self.device, self.shuffle = data, device, shuffle
        self.weights = torch.as_tensor(weights, dtype=torch.float64) if weights is not None else None
        self.batch_size = max(1, min(batch_size, len(data)))
        self.drop_last = drop_last and len(data) >= self.batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.resident = fits_on_device(data, device) if resident is None else resident
        self.workers = min(4, os.cpu_count() or 1) if workers is None else workers
        if self.resident:
            self.x = torch.from_numpy(data.images()).to(device)
            self.y = torch.from_numpy(data.y).to(device)

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.data)
        if self.weights is not None:
            order = torch.multinomial(self.weights, n, replacement=True, generator=self.generator)
        else:
            order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        batches = order[: len(self) * self.batch_size].split(self.batch_size) if self.drop_last \
            else order.split(self.batch_size)
        if self.resident:
            for index in batches:
                index = index.to(self.device)
                yield _to_unit(self.x[index]), self.y[index]
            return
        loader = DataLoader(_Rows(self.data), batch_size=None, sampler=batches, num_workers=self.workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=False)
        for x, y in loader:
            yield _to_unit(x.to(self.device, non_blocking=True)), y.to(self.device, non_blocking=True)


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to floats in [0, 1]."""
    return x.float().div_(255.0)


class _Rows(Dataset):
    """Reads a whole batch of rows from the cache at once (a sorted gather from the memory map)."""

    def __init__(self, data: ImageData):
        self.data = data

    def __getitem__(self, index: torch.Tensor):
        index = index.numpy()
        order = np.argsort(self.data.rows[index])
        rows = self.data.rows[index][order]
        x = np.empty((len(rows),) + self.data.x.shape[1:], np.uint8)
        x[order] = self.data.x[rows]
        return torch.from_numpy(x), torch.from_numpy(self.data.y[index])


def fits_on_device(data: ImageData, device: torch.device) -> bool:
    """Whether the uint8 images can live on `device` for the whole run."""
    nbytes = len(data) * int(np.prod(data.x.shape[1:]))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes < DEVICE_SHARE * free
    if device.type == "mps":
        return nbytes < DEVICE_SHARE * torch.mps.recommended_max_memory()
    return nbytes < DEVICE_SHARE * free_memory()


def free_memory() -> int:
    """Bytes of host memory free now."""
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
