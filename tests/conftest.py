"""Shared fixtures: an isolated decode cache and recipe library, and small image datasets made on the fly."""

from __future__ import annotations

import pytest

from imagegen import MODES, pattern, save_as


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test decodes into its own cache folder."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("AUTORECIPE_CACHE", str(cache))
    return cache


@pytest.fixture(autouse=True)
def isolated_library(tmp_path_factory, monkeypatch):
    """Every test reads and writes its own recipe library, never the one in the user's home."""
    library = tmp_path_factory.mktemp("library")
    monkeypatch.setenv("AUTORECIPE_LIBRARY", str(library))
    return library


@pytest.fixture
def image_folder(tmp_path):
    """A folder of 3 classes x 6 images in every colour mode, plus one corrupt file."""
    root = tmp_path / "images"
    for label, name in enumerate(("cat", "dog", "fox")):
        (root / name).mkdir(parents=True)
        for i in range(6):
            save_as(pattern(label, 20, seed=i), root / name / f"{i}", MODES[(i + label) % len(MODES)])
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """The default recipe trained on the built-in digits (shared by the tests that only read it)."""
    import autorecipe
    out = tmp_path_factory.mktemp("digits-run")
    return autorecipe.fit("digits", out=out, device="cpu")


REFERENCE_SECONDS = 0.15  # the workload below on the 2-core machine where the tests' time budgets were set
SLOWEST = 4.0  # budgets scale up to this many times on a slower machine


@pytest.fixture(scope="session")
def machine_slowdown():
    """How many times slower than the reference machine this one trains (at least 1, at most SLOWEST):
    wall-clock budgets in tests are multiplied by it, so an arm runs about as many steps everywhere."""
    import time

    import torch
    from torch import nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    x, y = torch.randn(64, 1, 16, 16), torch.randint(0, 10, (64,))
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(30):
            nn.functional.cross_entropy(net(x), y).backward()
        timings.append(time.perf_counter() - start)
    return min(SLOWEST, max(1.0, min(timings) / REFERENCE_SECONDS))
