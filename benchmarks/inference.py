"""Inference speed: `predict` against a plain PyTorch loop over the same image files, and ONNX Runtime against
PyTorch on the same decoded images at batch 1 and 256 (on the CPU).

- predict: `autorecipe.predict_source` over the files (threads decode a chunk while the model runs the last), in
  the recipe's precision (auto: bf16 on a CPU with AMX, else float32; the title says which), and with the
  precision set to float32, as the plain loop runs.
- plain loop: what a practitioner writes: each file decoded with the README's Pillow lines, batches of 256
  through the model under torch.no_grad, softmax.
- ONNX Runtime and PyTorch run the exported graph and the module it was exported from (uint8 in,
  calibrated probabilities out, float32) on the same uint8 arrays, at batch 1 and at batch 256.
Sides alternate within each round; a figure is the median images/s over the rounds. Without --run, an
untrained run of the default recipe at the images' size is made (speed does not depend on the weights).

    python benchmarks/inference.py ../shared/data/cifar10 [--run DIR] [--images 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from rich.console import Console
from rich.table import Table

import autorecipe
from autorecipe import Recipe
from autorecipe.exporting import export
from autorecipe.exporting.graph import deployed
from autorecipe.optimization.precision import resolve_precision
from autorecipe.run import Run
from autorecipe.training.classifier import Classifier

sys.path.insert(0, str(Path(__file__).parent))
from provenance import commit, machine  # noqa: E402

BATCH = 256


def validation_files(root: Path, count: int) -> list[str]:
    """The protocol's validation files (4500.jpg ... 4999.jpg of every class), interleaved by class."""
    classes = sorted(p for p in (root / "train").iterdir() if p.is_dir())
    per_class = [[str(c / f"{i:04d}.jpg") for i in range(4500, 5000)] for c in classes]
    return [files[i] for i in range(500) for files in per_class][:count]


def untrained_run(folder: Path, size: int) -> Run:
    """The default recipe's network at `size` px RGB, 10 classes, saved to `folder`."""
    recipe = Recipe().with_values({"image_size": size, "channels": "rgb"})
    torch.manual_seed(0)
    run = Run(Classifier(recipe, 10, 3, size).eval(), recipe, [str(i) for i in range(10)], temperature=1.5)
    run.save(folder)
    return run


def prepare_function():
    """The README's Pillow lines (the `prepare` function of "Serve it without autorecipe")."""
    text = (Path(__file__).parent.parent / "README.md").read_text()
    section = text[text.index("### Serve it without autorecipe"):]
    code = section[section.index("```python\n") + 10:]
    namespace: dict = {}
    exec(code[:code.index("```")], namespace)
    return namespace["prepare"]


def plain_loop(run: Run, files: list[str], prepare) -> float:
    """images/s of a hand-written loop: decode each file, batches of 256 through the model, softmax."""
    model = copy.deepcopy(run.model).to("cpu", memory_format=torch.contiguous_format).eval()
    gray = run.channels == "gray"
    start = time.perf_counter()
    for i in range(0, len(files), BATCH):
        x = np.stack([prepare(f, run.image_size, gray) for f in files[i:i + BATCH]])
        with torch.no_grad():
            x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
            torch.softmax(model(x) / run.temperature, 1)
    return len(files) / (time.perf_counter() - start)


def autorecipe_predict(run: Run, files: list[str]) -> float:
    """images/s of `predict_source` over the files."""
    start = time.perf_counter()
    rows = sum(1 for _ in autorecipe.predict_source(run, files, device="cpu"))
    assert rows == len(files)
    return len(files) / (time.perf_counter() - start)


def timed(call, images: np.ndarray, batch: int) -> float:
    """images/s of `call` over `images` in batches of `batch` (after one warm-up batch)."""
    call(images[:batch])
    start = time.perf_counter()
    for i in range(0, len(images) - batch + 1, batch):
        call(images[i:i + batch])
    return (len(images) // batch) * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the CIFAR-10 folder of ../shared/data")
    parser.add_argument("--run", type=Path, help="a trained run (default: an untrained default recipe)")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch1-images", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/autorecipe-inference"))
    args = parser.parse_args()
    files = validation_files(args.data, args.images)
    run = autorecipe.load(args.run) if args.run else untrained_run(args.work / "run", 32)
    graph = export(run, "onnx", out=args.work / "model.onnx", batch="dynamic")
    session = onnxruntime.InferenceSession(str(graph.path), providers=["CPUExecutionProvider"])
    fp32 = dataclasses.replace(run, recipe=run.recipe.with_values({"precision": "fp32"}))
    module = deployed(run)
    prepare = prepare_function()
    pixels = np.stack([prepare(f, run.image_size, run.channels == "gray") for f in files])

    def pytorch(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    def ort(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"images": x})[0]

    figures: dict[str, list[float]] = {name: [] for name in (
        "predict", "predict, fp32", "plain loop", "PyTorch, batch 1", "ONNX Runtime, batch 1",
        "PyTorch, batch 256", "ONNX Runtime, batch 256")}
    for _ in range(args.rounds):
        figures["predict"].append(autorecipe_predict(run, files))
        figures["predict, fp32"].append(autorecipe_predict(fp32, files))
        figures["plain loop"].append(plain_loop(run, files, prepare))
        figures["PyTorch, batch 1"].append(timed(pytorch, pixels[:args.batch1_images], 1))
        figures["ONNX Runtime, batch 1"].append(timed(ort, pixels[:args.batch1_images], 1))
        figures["PyTorch, batch 256"].append(timed(pytorch, pixels, BATCH))
        figures["ONNX Runtime, batch 256"].append(timed(ort, pixels, BATCH))
    median = {name: statistics.median(values) for name, values in figures.items()}
    table = Table(title=f"inference, {run.recipe.architecture.model} x{run.recipe.architecture.width}, "
                        f"{run.image_size}px, {len(files)} JPEG files, predict in "
                        f"{resolve_precision(run.recipe.optimization, torch.device('cpu'))}; {machine()}, torch "
                        f"{torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
                        f"{onnxruntime.__version__}; commit {commit()}, {date.today()}")
    table.add_column("side")
    table.add_column("images/s (median)", justify="right")
    table.add_column("ms an image", justify="right")
    table.add_column("rounds", justify="right")
    for name, values in figures.items():
        table.add_row(name, f"{median[name]:,.0f}", f"{1000 / median[name]:.3f}",
                      ", ".join(f"{v:,.0f}" for v in values))
    Console(width=160).print(table)
    print(f"predict / plain loop {median['predict'] / median['plain loop']:.2f}x (in fp32 "
          f"{median['predict, fp32'] / median['plain loop']:.2f}x); ONNX Runtime / PyTorch: batch 1 "
          f"{median['ONNX Runtime, batch 1'] / median['PyTorch, batch 1']:.2f}x, batch 256 "
          f"{median['ONNX Runtime, batch 256'] / median['PyTorch, batch 256']:.2f}x")


if __name__ == "__main__":
    main()
