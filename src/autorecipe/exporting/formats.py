"""The export formats, by name: how each traces the deployed model, serializes it with its metadata, and
runs the serialized bytes again (for the parity check) in its own runtime."""

from __future__ import annotations

import inspect
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import AutorecipeError

OPSET = 17  # ONNX operator set: every op the zoo uses, and what ONNX Runtime of the last three years runs
INPUT, OUTPUT = "images", "probabilities"
METADATA_KEY = "autorecipe"  # the ONNX metadata property, or the TorchScript extra file's name (.json)


@dataclass(frozen=True)
class Format:
    """An export format: file suffix, build (trace) the graph, serialize it with metadata, run the bytes."""

    name: str
    suffix: str
    build: Callable[[nn.Module, torch.Tensor, bool], Any]
    serialize: Callable[[Any, dict], bytes]
    runner: Callable[[bytes], Callable[[np.ndarray], np.ndarray]]
    versions: Callable[[], dict[str, str]]


def _onnx_build(module: nn.Module, example: torch.Tensor, dynamic: bool):
    onnx = _onnx()
    options = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # tracing warns of every size it fixes (the input size is fixed by design)
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}} if dynamic else None,
                          opset_version=OPSET, do_constant_folding=True, **options)
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model)
    return model


def _onnx_serialize(model, metadata: dict) -> bytes:
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    return model.SerializeToString()


def _onnx_runner(data: bytes) -> Callable[[np.ndarray], np.ndarray]:
    ort = _onnxruntime()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return lambda images: session.run(None, {INPUT: images})[0]


def _onnx_versions() -> dict[str, str]:
    return {"onnx": _onnx().__version__, "onnxruntime": _onnxruntime().__version__}


def _torchscript_build(module: nn.Module, example: torch.Tensor, dynamic: bool):
    with warnings.catch_warnings(), torch.no_grad():  # as for ONNX: the fixed sizes warn
        warnings.simplefilter("ignore")
        return torch.jit.trace(module, example, check_trace=False)


def _torchscript_serialize(traced, metadata: dict) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # PyTorch deprecates TorchScript for torch.export; the format still serves
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, buffer, _extra_files={f"{METADATA_KEY}.json": json.dumps(metadata)})
    return buffer.getvalue()


def _torchscript_runner(data: bytes) -> Callable[[np.ndarray], np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu").eval()

    def run(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return loaded(torch.from_numpy(images)).numpy()
    return run


def _onnx():
    try:
        import onnx
    except ImportError:
        raise AutorecipeError("--format onnx needs the onnx package: pip install onnx onnxruntime") from None
    return onnx


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise AutorecipeError("the ONNX parity check needs onnxruntime: pip install onnxruntime") from None
    return onnxruntime


FORMATS = {
    "onnx": Format("onnx", ".onnx", _onnx_build, _onnx_serialize, _onnx_runner, _onnx_versions),
    "torchscript": Format("torchscript", ".torchscript.pt", _torchscript_build, _torchscript_serialize,
                          _torchscript_runner, lambda: {}),
}


def lookup_format(name: str) -> Format:
    """The format called `name`, or a clear error naming the valid ones."""
    if name not in FORMATS:
        raise AutorecipeError(f"--format {name!r}: unknown export format; choose {' or '.join(FORMATS)}")
    return FORMATS[name]
