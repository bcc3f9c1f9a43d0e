"""The display of a fit, in a terminal or a Jupyter notebook (rich renders both): what trains, a
progress bar with the time left, and a line per epoch."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .callbacks import Callback


class RichProgress(Callback):
    """A decoding bar while the data loads, then a bar over all training steps and one line per epoch."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), TextColumn("{task.description}"),
            console=self.console, transient=True,
        )
        self.task = None
        self.epochs = 0
        self.decoding = None

    def on_decode(self, done: int, total: int) -> None:
        if self.decoding is None:
            self.decoding = Progress(TextColumn("[bold]decoding images"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=self.console, transient=True)
            self.decoding.start()
            self.decoding_task = self.decoding.add_task("", total=total)
        self.decoding.update(self.decoding_task, completed=done, total=total)
        if done >= total:
            self.decoding.stop()
            self.decoding = None

    def on_start(self, epochs: int, steps_per_epoch: int, summary: dict) -> None:
        self.console.print(describe_training(summary), highlight=False, soft_wrap=True)
        self.epochs = epochs
        self.progress.start()
        self.task = self.progress.add_task("", total=epochs * steps_per_epoch,
                                           completed=summary.get("steps_done", 0))  # resumed: from there

    def on_step(self) -> None:
        self.progress.advance(self.task)

    def on_epoch(self, record: dict) -> None:
        line = f"epoch {record['epoch']:>3}/{self.epochs}  loss {record['train_loss']:.4f} " \
               f"acc {record['train_accuracy']:.4f}"
        if "val_accuracy" in record:
            line += f" | val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.4f}"
            if "val_balanced_accuracy" in record:
                line += f" bal {record['val_balanced_accuracy']:.4f} F1 {record['val_macro_f1']:.4f}"
        line += f" | {record['images_per_second']:.0f} img/s"
        self.progress.console.print(line, highlight=False)
        if "val_accuracy" in record:
            self.progress.update(self.task, description=f"val acc {record['val_accuracy']:.4f}")

    def on_end(self) -> None:
        self.progress.stop()


def describe_training(summary: dict) -> str:
    """One line on what trains: model and size, device and precision, images, batch and learning rate."""
    validation = f", {summary['val_images']:,} validation" if summary["val_images"] else ", no validation"
    return (f"{summary['model']} ({summary['parameters'] / 1e6:.2f}M parameters) on {summary['device']} "
            f"({summary['precision']}): {summary['images']:,} training images{validation}; batch "
            f"{summary['batch']}, {lr_text(summary['lr'], summary['peak_lr'], summary['batch'])}")


def lr_text(lr: float, peak_lr: float, batch: int) -> str:
    """The learning rate as the recipe states it (for 512 images) and as it trains (at `batch`)."""
    return f"lr {lr:.4g} per 512 images (peak {peak_lr:.4g} at batch {batch})"
