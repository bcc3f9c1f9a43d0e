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
