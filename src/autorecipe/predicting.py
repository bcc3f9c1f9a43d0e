"""Prediction over many images: folders (recursively), CSVs of paths, .npz files and image files, decoded in
chunks by threads while the model runs batches on the device; an unreadable file is a row with its reason,
never an exception. The rows stream to a CSV, written under a temporary name and renamed when complete."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data.dataset import ImageData, convert_arrays
from .data.images import decode_chunk
from .data.unlabeled import read_unlabeled
from .device import choose_device
from .errors import AutorecipeError
from .files import atomic_file
from .regularization.tta import TTA
from .run import BATCH, Run, as_run, check_top_k, inference_model, logits_of, top_classes

CHUNK = 512  # images decoded while the model runs the previous chunk
DECODE_SLICE = 64  # files a decoding thread takes at a time
HEADER = ["image", "class", "probability"]  # a predictions CSV's first columns


@dataclass(frozen=True)
class Prediction:
    """One image's result: its name (a path, or FILE.npz[i]), its top (class, probability) pairs, or why it
    could not be read (then `top` is empty)."""

    image: str
    top: list[tuple[str, float]]
    error: str = ""


@dataclass(frozen=True)
class _Item:
    """An image to predict: a file path, or a row of an array."""

    name: str
    path: str | None = None
    pixels: np.ndarray | None = None


def list_images(sources: Iterable) -> list[_Item]:
    """Every image named by `sources`: folders (recursively), CSVs of paths, .npz files (`x`), image files, or
    uint8 arrays (N, H, W[, C]); a source that does not exist is an error."""
    items: list[_Item] = []
    for source in sources:
        if isinstance(source, np.ndarray):
            images, _ = read_unlabeled(source)
            items += [_Item(f"array[{i}]", pixels=image) for i, image in enumerate(images)]
            continue
        path = Path(source).expanduser()
        if not path.exists():
            raise AutorecipeError(f"{source}: no such file or folder to predict")
        if path.is_dir() or path.suffix.lower() in (".csv", ".npz"):
            found, _ = read_unlabeled(path, ignore_labels=True)
            if isinstance(found, np.ndarray):
                items += [_Item(f"{path}[{i}]", pixels=image) for i, image in enumerate(found)]
            else:
                items += [_Item(p, path=p) for p in found]
        else:
            items.append(_Item(str(path), path=str(path)))
    if not items:
        raise AutorecipeError("no images given to predict")
    return items


def predict_source(run: Run | str | Path, sources, *, top_k: int = 1, tta: str | None = None,
                   batch_size: int = BATCH, device: str | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> Iterator[Prediction]:
    """For every image of `sources` (see list_images), in order, its top-k calibrated (class, probability)
    pairs, or the reason it could not be read. `tta` replaces the recipe's test-time augmentation."""
    run = as_run(run)
    check_top_k(top_k)
    if batch_size < 1:
        raise AutorecipeError(f"--batch-size {batch_size}: must be at least 1")
    if tta is not None:
        TTA.validate(tta)
    items = list_images([sources] if isinstance(sources, (str, Path, np.ndarray)) else sources)
    return _stream(run, items, top_k, tta, batch_size, device, on_progress)


def _stream(run: Run, items: list[_Item], top_k: int, tta: str | None, batch_size: int, device: str | None,
            on_progress: Callable[[int, int], None] | None) -> Iterator[Prediction]:
    """The predictions of `items`, chunk by chunk. On an accelerator the next chunk decodes while the model runs
    this one; on the CPU, where both need the same cores, each chunk decodes on every core, then runs."""
    gray = run.channels == "gray"
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    dev = choose_device(device)
    overlap, model = dev.type != "cpu", inference_model(run, dev)
    done = 0
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        pending = _decode(pool, chunks[0], run.image_size, gray)
        for index, chunk in enumerate(chunks):
            parts = [future.result() for future in pending]
            following = chunks[index + 1] if index + 1 < len(chunks) else None
            if following and overlap:
                pending = _decode(pool, following, run.image_size, gray)
            pixels = np.concatenate([pixels for pixels, _ in parts])
            failed = {i: reason for _, failures in parts for i, reason in failures}
            readable = [i for i in range(len(chunk)) if i not in failed]
            tops = iter(_top(run, model, pixels, top_k, tta, batch_size, dev) if readable else [])
            for i, item in enumerate(chunk):
                yield Prediction(item.name, [], failed[i]) if i in failed else Prediction(item.name, next(tops))
            done += len(chunk)
            if on_progress:
                on_progress(done, len(items))
            if following and not overlap:
                pending = _decode(pool, following, run.image_size, gray)


def _decode(pool: ThreadPoolExecutor, chunk: list[_Item], size: int, gray: bool) -> list[Future]:
    """Start decoding a chunk in slices: futures of (pixels, [(index in the chunk, reason)]), in order."""
    return [pool.submit(_decode_part, chunk[start:start + DECODE_SLICE], start, size, gray)
            for start in range(0, len(chunk), DECODE_SLICE)]


def _decode_part(part: list[_Item], start: int, size: int, gray: bool) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode files and convert array rows of one slice; reasons keyed by their index in the chunk."""
    files = [i for i, item in enumerate(part) if item.path is not None]
    decoded, failures = decode_chunk([part[i].path for i in files], size, gray)
    failed = {files[i]: reason for i, reason in failures}
    rows, ok = [], iter(decoded)
    for i, item in enumerate(part):
        if i in failed:
            continue
        rows.append(next(ok) if item.path is not None else convert_arrays(item.pixels[None], size, gray)[0])
    channels = 1 if gray else 3
    pixels = np.stack(rows) if rows else np.zeros((0, channels, size, size), np.uint8)
    return pixels, [(start + i, reason) for i, reason in failed.items()]


def _top(run: Run, model, pixels: np.ndarray, top_k: int, tta: str | None, batch_size: int,
         device: torch.device) -> list[list[tuple[str, float]]]:
    """The top-k calibrated predictions of decoded (N, C, S, S) images, batched on the device."""
    data = ImageData(pixels, np.arange(len(pixels)), np.zeros(len(pixels), dtype=np.int64), run.classes)
    logits, _ = logits_of(run, data, str(device), tta, batch_size, model)
    return top_classes(run, run.probabilities(logits), top_k)


def write_predictions(rows: Iterable[Prediction], out: str | Path, top_k: int) -> dict[str, int]:
    """Stream predictions to the CSV `out` (image, class, probability, then class_2, probability_2, ... up to
    top_k, and error): written under a temporary name, renamed when complete; only over an earlier predictions
    CSV, never over another file (the run's weights, an image, the CSV of images). Returns the counts."""
    out = Path(out)
    if out.is_dir():
        raise AutorecipeError(f"--out {out}: is a folder; give the CSV file to write, e.g. {out / 'predictions.csv'}")
    if (out.exists() or out.is_symlink()) and not _earlier_predictions(out):
        raise AutorecipeError(f"--out {out}: a file that is not an earlier predictions CSV is there; give a new file "
                              f"name (predict writes over its own CSVs only)")
    header = list(HEADER)
    for rank in range(2, top_k + 1):
        header += [f"class_{rank}", f"probability_{rank}"]
    counts = {"images": 0, "unreadable": 0}
    with atomic_file(out, "w") as f:
        writer = csv.writer(f)
        writer.writerow(header + ["error"])
        for row in rows:
            cells = [cell for name, probability in row.top for cell in (name, f"{probability:.6f}")]
            writer.writerow([row.image, *cells, *[""] * (len(header) - 1 - len(cells)), row.error])
            counts["images"] += 1
            counts["unreadable"] += bool(row.error)
    return counts


def _earlier_predictions(path: Path) -> bool:
    """Whether `path` is a regular file that starts as write_predictions starts a CSV."""
    if not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(len(",".join(HEADER)) + 1).decode(errors="replace").startswith(",".join(HEADER) + ",")
