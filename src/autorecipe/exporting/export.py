"""`export`: write a run's model as an ONNX or TorchScript file that takes uint8 images and returns calibrated
probabilities, after checking it against PyTorch in its own runtime; its metadata beside it, and inside it."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..errors import AutorecipeError
from ..files import write_atomic
from ..run import Run, as_run
from ..version import __version__
from .formats import INPUT, METADATA_KEY, OUTPUT, lookup_format
from .graph import deployed

TOLERANCE = 1e-4  # the largest difference of a probability from PyTorch's that passes the parity check
PARITY_IMAGES = 16  # images the parity check runs through both, in batches the graph accepts


@dataclass
class Export:
    """A written export: the model file, its metadata file, and the metadata (parity included)."""

    path: Path
    metadata_path: Path
    metadata: dict


def export(run: Run | str | Path, format: str = "onnx", out: str | Path | None = None, batch: int | str = 1,
           tolerance: float = TOLERANCE) -> Export:
    """Export `run` (a Run or its folder) as `format` ("onnx" or "torchscript") to `out` (a file, or a folder to
    hold model.onnx or model.torchscript.pt; default: the run folder).

    The graph takes (N, H, W, C) uint8 images at the run's input size and returns (N, K) float32
    probabilities, calibrated. `batch` is N (default 1), or "dynamic" for any N (TorchScript graphs take
    any N). The export is checked against the PyTorch model in its own runtime (ONNX Runtime, or
    TorchScript): the largest difference of a probability must be under `tolerance`, or nothing is
    written. The metadata (input, classes, preprocessing, calibration, parity, versions) is written to
    OUT.json and inside the file (ONNX: the metadata property "autorecipe"; TorchScript: the extra file
    autorecipe.json).
    """
    kind = lookup_format(format)
    dynamic, size = _batch(batch)
    run = as_run(run)
    path = Path(out) if out is not None else _default_path(run, kind.suffix)
    if path.is_dir():
        path = path / f"model{kind.suffix}"
    metadata_path = path.with_name(path.name + ".json")
    if (path.exists() or path.is_symlink()) and not metadata_path.is_file():
        raise AutorecipeError(f"--out {path}: a file that is not an earlier export is there (no {metadata_path.name} "
                              f"beside it); give a new file name (export writes over its own files only)")
    module = deployed(run)
    c = 1 if run.channels == "gray" else 3
    example = torch.zeros(size or 2, run.image_size, run.image_size, c, dtype=torch.uint8)
    try:
        graph = kind.build(module, example, dynamic)
    except AutorecipeError:
        raise
    except Exception as error:  # a user's model may hold what tracing or the exporter cannot take
        raise AutorecipeError(f"{run.recipe.architecture.model}: cannot be exported to {kind.name} "
                              f"({type(error).__name__}: {error})") from error
    metadata = _metadata(run, kind.name, path, size, c, kind.versions())
    batches = (size,) * max(1, PARITY_IMAGES // size) if size else (1, PARITY_IMAGES - 1)
    metadata["parity"] = parity(module, kind.runner(kind.serialize(graph, metadata)), batches,
                                run.image_size, c, tolerance, kind.name)
    if not metadata["parity"]["passed"]:
        raise AutorecipeError(f"{kind.name} export of {run.path or 'the run'}: the parity check failed: a "
                              f"probability differs from PyTorch's by {metadata['parity']['max_abs_difference']:.2e}, "
                              f"more than {tolerance:g}; nothing written")
    try:
        write_atomic(path, kind.serialize(graph, metadata))
        write_atomic(metadata_path, json.dumps(metadata, indent=1).encode())
    except OSError as error:
        raise AutorecipeError(f"{error.filename or path}: cannot write the export ({error.strerror or error}); "
                              f"give --out a file in a folder you can write to") from None
    return Export(path, metadata_path, metadata)


def parity(module: torch.nn.Module, runner, batches: tuple[int, ...], image_size: int, channels: int,
           tolerance: float, runtime: str) -> dict:
    """Run the same seeded images (random pixels, all black, all white) through the PyTorch module and the
    exported graph, batch by batch; the largest difference of their probabilities."""
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, (sum(batches), image_size, image_size, channels), dtype=np.uint8)
    images[0], images[-1] = 0, 255
    worst, start = 0.0, 0
    for n in batches:
        chunk = images[start:start + n]
        start += n
        with torch.no_grad():
            expected = module(torch.from_numpy(chunk)).numpy()
        got = np.asarray(runner(chunk))
        if got.shape != expected.shape:
            raise AutorecipeError(f"{runtime} export: the graph returns {got.shape} for {n} images, expected "
                                  f"{expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return {"against": "the PyTorch model, float32, on the CPU", "runtime": _runtime(runtime),
            "images": int(sum(batches)), "batch_sizes": sorted(set(batches)), "max_abs_difference": worst,
            "tolerance": tolerance, "passed": worst < tolerance}


def _batch(batch: int | str) -> tuple[bool, int | None]:
    """(dynamic, fixed size) from --batch: a positive number, or "dynamic"."""
    if batch == "dynamic":
        return True, None
    try:
        size = int(batch)
    except (TypeError, ValueError):
        size = 0
    if size < 1 or str(size) != str(batch).strip():
        raise AutorecipeError(f"--batch {batch!r}: expected a positive number of images or 'dynamic'")
    return False, size


def _default_path(run: Run, suffix: str) -> Path:
    if run.path is None:
        raise AutorecipeError("this run has no folder (it was not saved); give out= a file path")
    return run.path / f"model{suffix}"


def _metadata(run: Run, kind: str, path: Path, size: int | None, channels: int, versions: dict) -> dict:
    """What a deployer needs beside the graph: its input and output, the classes, how to prepare an image,
    the calibration, and the versions that wrote it."""
    inference = run.inference()
    return {
        "format": kind, "file": path.name,
        "input": {"name": INPUT, "shape": [size or "batch", run.image_size, run.image_size, channels],
                  "dtype": "uint8", "layout": "NHWC", "channels": run.channels},
        "output": {"name": OUTPUT, "shape": [size or "batch", len(run.classes)], "dtype": "float32",
                   "meaning": "class probabilities, in the order of classes"},
        "classes": run.classes,
        "preprocessing": inference["input"]["preprocessing"],
        "inside_the_graph": "pixels / 255, the per-channel normalization, the network, the test-time augmentation "
                            f"({inference['test_time_augmentation']}) and the softmax of logits / temperature",
        "normalization": inference["normalization"],
        "temperature": inference["temperature"], "calibrated": inference["calibrated"],
        "test_time_augmentation": inference["test_time_augmentation"],
        "model": run.recipe.architecture.model, "run": str(run.path) if run.path else None,
        "versions": {"autorecipe": __version__, "torch": torch.__version__, **versions,
                     "python": platform.python_version()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metadata_key": METADATA_KEY,
    }


def _runtime(kind: str) -> str:
    """The runtime the parity check ran the exported file in, with its version."""
    if kind == "onnx":
        import onnxruntime
        return f"ONNX Runtime {onnxruntime.__version__} (CPUExecutionProvider)"
    return f"TorchScript (torch {torch.__version__})"
