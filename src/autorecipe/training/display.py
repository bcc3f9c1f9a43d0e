"""The terminal display of a fit: a rich progress bar over the training steps and a line per epoch."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .callbacks import Callback


class RichProgress(Callback):
    """A decoding bar while the data loads, then a bar over all training steps and one line per epoch."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
            TimeElapsedColumn(), TextColumn("{task.description}"), console=self.console, transient=True,
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

    def on_start(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs = epochs
        self.progress.start()
        self.task = self.progress.add_task("", total=epochs * steps_per_epoch)

    def on_step(self) -> None:
        self.progress.advance(self.task)

    def on_epoch(self, record: dict) -> None:
        line = f"epoch {record['epoch']:>3}/{self.epochs}  loss {record['train_loss']:.4f} " \
               f"acc {record['train_accuracy']:.4f}"
        if "val_accuracy" in record:
            line += f" | val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.4f}"
        line += f" | {record['images_per_second']:.0f} img/s"
        self.progress.console.print(line, highlight=False)
        if "val_accuracy" in record:
            self.progress.update(self.task, description=f"val acc {record['val_accuracy']:.4f}")

    def on_end(self) -> None:
        self.progress.stop()
