"""ImageData: decoded uint8 images, their labels and class names, from any source."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from ..errors import AutorecipeError
from .cache import decode_files
from .images import choose_size, probe_file, to_array
from .sources import ArraySource, FileSource, read_source

PROBE_FILES = 1000  # headers read to choose the automatic size and colour handling


@dataclass
class ImageData:
    """Images as rows of a uint8 (M, C, S, S) array (possibly memory-mapped), with labels.

    `rows` picks the rows in use, so subsets and splits never copy pixels.
    """

    x: np.ndarray
    rows: np.ndarray
    y: np.ndarray
    classes: list[str]
    description: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    decode_seconds: float = 0.0
    from_cache: bool = False
    paths: list[str] | None = None  # per row of x, the file it was decoded from (None: arrays)
    weights: np.ndarray | None = None  # per example, how often training draws it (None: uniformly)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def channels(self) -> int:
        return self.x.shape[1]

    @property
    def image_size(self) -> int:
        return self.x.shape[2]

    def images(self) -> np.ndarray:
        """The images in use as one in-memory (N, C, S, S) uint8 array."""
        return np.ascontiguousarray(self.x[self.rows])

    def subset(self, index: np.ndarray) -> ImageData:
        """The examples at positions `index`."""
        index = np.asarray(index, dtype=np.int64)
        return replace(self, rows=self.rows[index], y=self.y[index],
                       weights=self.weights[index] if self.weights is not None else None)

    def class_counts(self) -> np.ndarray:
        """Number of examples of each class."""
        return np.bincount(self.y, minlength=len(self.classes))

    def with_classes(self, classes: list[str]) -> ImageData:
        """The same examples labelled by position in `classes` (e.g. a trained model's)."""
        unknown = sorted(set(self.classes) - set(classes))
        present = set(np.unique(self.y).tolist())
        unknown = [c for c in unknown if self.classes.index(c) in present]
        if unknown:
            raise AutorecipeError(
                f"{self.description}: class(es) {', '.join(map(repr, unknown[:5]))} are not among the model's "
                f"classes ({', '.join(classes[:10])}{', ...' if len(classes) > 10 else ''})")
        mapping = np.array([classes.index(c) if c in classes else -1 for c in self.classes], dtype=np.int64)
        return replace(self, y=mapping[self.y], classes=list(classes))

    def names(self, positions) -> list[str]:
        """What the examples at `positions` are called in messages: their file paths, or "DESCRIPTION[row]"."""
        rows = self.rows[np.asarray(positions, dtype=np.int64)]
        return [self.paths[r] if self.paths is not None else f"{self.description}[{r}]" for r in rows]


def load_data(
    spec,
    image_size: int = 0,
    channels: str = "auto",
    *,
    use_cache: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImageData:
    """Load any source as ImageData; image_size 0 and channels "auto" are chosen from the data."""
    start = time.perf_counter()
    source = read_source(spec)
    probes = _probe(source) if not (image_size and channels != "auto") else {}
    size, gray = _resolve_format(probes, image_size, channels)
    skipped: list[tuple[str, str]] = []
    from_cache = False
    if isinstance(source, FileSource):
        x, failures, from_cache = decode_files(source.paths, size, gray, use_cache=use_cache,
                                               on_progress=on_progress)
        failed = {source.paths[i] for i in failures}
        readable = {path: probe for path, probe in probes.items() if path not in failed}
        if len(readable) < len(probes) and _resolve_format(readable, image_size, channels) != (size, gray):
            # a file that could not be decoded had a say in the automatic size or colour: decode again without it
            size, gray = _resolve_format(readable, image_size, channels)
            x, failures, from_cache = decode_files(source.paths, size, gray, use_cache=use_cache,
                                                   on_progress=on_progress)
        _check_classes_readable(source, failures)
        keep = np.array([i for i in range(len(source.paths)) if i not in failures], dtype=np.int64)
        skipped = [(source.paths[i], reason) for i, reason in sorted(failures.items())]
    else:
        x = convert_arrays(source.x, size, gray)
        keep = np.arange(len(x), dtype=np.int64)
    labels = [source.labels[i] for i in keep]
    classes = source.classes if isinstance(source, ArraySource) and source.classes else _sorted_classes(labels)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    return ImageData(x, keep, y, classes, source.description, skipped,
                     time.perf_counter() - start, from_cache,
                     list(source.paths) if isinstance(source, FileSource) else None)


def _probe(source: FileSource | ArraySource) -> dict[str, tuple[int, bool]]:
    """The shorter side and grayness of a seeded sample of a source's files, read from their headers (by path;
    unreadable headers left out); for arrays, of the array."""
    if isinstance(source, ArraySource):
        return {"arrays": (min(source.x.shape[1:3]), source.x.ndim == 3 or source.x.shape[3] == 1)}
    sample = random.Random(0).sample(source.paths, min(PROBE_FILES, len(source.paths)))
    return {path: found for path, found in zip(sample, map(probe_file, sample)) if found is not None}


def _resolve_format(probes: dict[str, tuple[int, bool]], image_size: int, channels: str) -> tuple[int, bool]:
    """The image size and grayness to decode at, from the probed files where they are automatic."""
    if image_size and channels != "auto":
        return image_size, channels == "gray"
    sides = [side for side, _ in probes.values()]
    gray = bool(probes) and all(g for _, g in probes.values())
    return image_size or choose_size(sides), gray if channels == "auto" else channels == "gray"


def convert_arrays(x: np.ndarray, size: int, gray: bool) -> np.ndarray:
    """(N, H, W[, C]) uint8 arrays to (N, C, size, size), converting only when needed."""
    if x.ndim == 3:
        x = x[..., None]
    channels = 1 if gray else 3
    if x.shape[1] == x.shape[2] == size and x.shape[3] == channels:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    return np.stack([to_array(Image.fromarray(img[..., 0] if img.shape[2] == 1 else img, modes[img.shape[2]]),
                              size, gray) for img in x]) if len(x) else np.zeros((0, channels, size, size), np.uint8)


def _check_classes_readable(source: FileSource, failures: dict[int, str]) -> None:
    """Every class needs at least one file that decoded; a class of only corrupt files is an error."""
    readable = {label for i, label in enumerate(source.labels) if i not in failures}
    for name in _sorted_classes(source.labels):
        if name not in readable:
            files = [i for i, label in enumerate(source.labels) if label == name]
            raise AutorecipeError(
                f"{source.description}: class {name!r} has no readable images: all {len(files)} of its file(s) "
                f"failed to decode, e.g. {source.paths[files[0]]}: {failures[files[0]]}; replace or remove them")


def _sorted_classes(labels: list[str]) -> list[str]:
    """Class names in natural order: numerically when all are integers, else alphabetically."""
    names = set(labels)
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def check_trainable(data: ImageData) -> None:
    """Training needs at least two classes, each with at least one image."""
    counts = data.class_counts()
    if len(data.classes) < 2:
        raise AutorecipeError(f"{data.description}: found {len(data.classes)} class; training needs at least two")
    empty = [c for c, n in zip(data.classes, counts) if n == 0]
    if empty:
        raise AutorecipeError(f"{data.description}: class(es) {', '.join(map(repr, empty))} have no readable images")
