"""Training throughput: autorecipe's loop against a minimal hand-written PyTorch loop.

Both train the default recipe's network with the same batch size, precision, memory layout,
optimizer and augmentation (horizontal flip, reflect-pad-and-crop), side by side in one run,
alternating rounds. Each side's figure is the median images/s over its epochs after the first.
Headline (last line): autorecipe images/s divided by hand-written images/s; the goal is >= 0.95.

    python benchmarks/throughput.py [--images 10240] [--epochs 3] [--rounds 3] [--device auto]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from autorecipe import Recipe
from autorecipe.data.dataset import load_data
from autorecipe.device import choose_device
from autorecipe.optimization.precision import autocast, resolve_precision
from autorecipe.optimization.schedule import batch_size, peak_lr
from autorecipe.training.classifier import Classifier
from autorecipe.training.loop import train
from autorecipe.training.setup import seed_everything


def hand_written(recipe: Recipe, x: np.ndarray, y: np.ndarray, device: torch.device, epochs: int) -> list[float]:
    """The loop a practitioner would write: images/s of each epoch."""
    opt_knobs, reg = recipe.optimization, recipe.regularization
    seed_everything(0)
    model = Classifier(recipe, 10, x.shape[1], x.shape[2]).to(device, memory_format=torch.channels_last)
    batch = batch_size(opt_knobs, len(x))
    optimizer = torch.optim.SGD(model.parameters(), lr=peak_lr(opt_knobs, batch), momentum=opt_knobs.momentum,
                                nesterov=True, weight_decay=reg.weight_decay)
    precision = resolve_precision(opt_knobs, device)
    images, labels = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    n, size = len(images), images.shape[-1]
    pad = int(round(reg.translate * size))
    rates = []
    for _ in range(epochs):
        model.train()
        _sync(device)
        start = time.perf_counter()
        order = torch.randperm(n, device=device)
        for i in range(n // batch):
            index = order[i * batch:(i + 1) * batch]
            xb = images[index].float().div_(255)
            flip = torch.rand(batch, device=device) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            xb = F.pad(xb, (pad,) * 4, mode="reflect")
            dx, dy = torch.randint(0, 2 * pad + 1, (2, batch), device=device)
            rows = (dy[:, None] + torch.arange(size, device=device))[:, None, :, None]
            cols = (dx[:, None] + torch.arange(size, device=device))[:, None, None, :]
            xb = xb.gather(2, rows.expand(-1, xb.shape[1], -1, xb.shape[3]))
            xb = xb.gather(3, cols.expand(-1, xb.shape[1], size, -1))
            xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                out = model(xb)
            loss = F.cross_entropy(out.float(), labels[index], label_smoothing=reg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
        rates.append((n // batch) * batch / (time.perf_counter() - start))
    return rates


def autorecipe_loop(recipe: Recipe, data, device: torch.device) -> list[float]:
    """autorecipe's training loop (no validation set): images/s of each epoch."""
    return [h["images_per_second"] for h in train(recipe, data, None, device=device).history]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10240)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = choose_device(args.device)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    y = rng.integers(0, 10, args.images)
    data = load_data((x, y))
    recipe = Recipe().with_values({"epochs": args.epochs, "image_size": args.size, "channels": "rgb"})
    x_chw = data.images()
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(statistics.median(autorecipe_loop(recipe, data, device)[1:]))
        theirs.append(statistics.median(hand_written(recipe, x_chw, data.y, device, args.epochs)[1:]))
    precision = resolve_precision(recipe.optimization, device)
    table = Table(title=f"training throughput, {recipe.architecture.model} x{recipe.architecture.width}, "
                        f"{args.size}px, batch {batch_size(recipe.optimization, args.images)}, {precision}, "
                        f"{device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    table.add_column("round")
    table.add_column("autorecipe img/s", justify="right")
    table.add_column("hand-written img/s", justify="right")
    table.add_column("ratio", justify="right")
    for i, (a, b) in enumerate(zip(ours, theirs), 1):
        table.add_row(str(i), f"{a:,.0f}", f"{b:,.0f}", f"{a / b:.3f}")
    Console(width=120).print(table)
    ratio = statistics.median(a / b for a, b in zip(ours, theirs))
    print(f"throughput ratio autorecipe / hand-written: {ratio:.3f} (median of {args.rounds} rounds; goal >= 0.95)")


if __name__ == "__main__":
    main()
