"""The training loop: accuracy on digits, reproducibility, divergence, budgets, interruption, streaming."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import autorecipe
from autorecipe import Recipe
from autorecipe.data.dataset import load_data
from autorecipe.data.loader import BatchLoader
from autorecipe.training.loop import train

QUICK = {"epochs": 2, "width": 0.25}


def test_fit_on_digits_reaches_95_percent(digits_run):
    assert digits_run.metrics["status"] == "completed"
    assert digits_run.metrics["val_accuracy"] >= 0.95
    history = digits_run.history
    assert len(history) == digits_run.recipe.optimization.epochs
    assert set(history[0]) >= {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                               "images_per_second", "seconds"}
    best = digits_run.metrics["best_epoch"]
    assert history[best - 1]["val_accuracy"] == max(h["val_accuracy"] for h in history)
    assert history[-1]["lr"] < history[0]["lr"] or history[0]["lr"] < max(h["lr"] for h in history)


def test_fit_writes_the_run_folder(digits_run):
    files = {p.name for p in digits_run.path.iterdir()}
    assert files >= {"model.safetensors", "recipe.yaml", "classes.json", "history.csv", "metrics.json", "run.log"}
    saved = Recipe.load(digits_run.path / "recipe.yaml")
    assert saved.data.image_size == 8 and saved.data.channels == "gray"  # automatic values resolved
    assert saved.optimization.batch_size == digits_run.metrics["batch_size"] == 64
    assert json.loads((digits_run.path / "classes.json").read_text()) == [str(i) for i in range(10)]
    assert json.loads((digits_run.path / "metrics.json").read_text())["val_accuracy"] == digits_run.metrics["val_accuracy"]
    assert len((digits_run.path / "history.csv").read_text().splitlines()) == len(digits_run.history) + 1


def test_runs_are_reproducible_on_cpu(tmp_path):
    first = autorecipe.fit("digits", overrides=QUICK, out=tmp_path / "a", device="cpu", seed=3)
    second = autorecipe.fit("digits", overrides=QUICK, out=tmp_path / "b", device="cpu", seed=3)
    other = autorecipe.fit("digits", overrides=QUICK, out=tmp_path / "c", device="cpu", seed=4)
    losses = [[h["train_loss"], h["val_loss"]] for h in first.history]
    assert losses == [[h["train_loss"], h["val_loss"]] for h in second.history]
    assert losses != [[h["train_loss"], h["val_loss"]] for h in other.history]
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key])


def test_a_non_finite_loss_ends_the_run_as_diverged(tmp_path, monkeypatch):
    import autorecipe.training.setup as loop
    real, calls = loop.training_loss, {"n": 0}

    def poisoned(section, logits, targets, class_weights=None):
        calls["n"] += 1
        loss = real(section, logits, targets, class_weights)
        return loss * float("nan") if calls["n"] > 30 else loss

    monkeypatch.setattr(loop, "training_loss", poisoned)
    run = autorecipe.fit("digits", overrides={"epochs": 5, "width": 0.25, "batch_size": 64},
                         out=tmp_path, device="cpu")
    assert run.metrics["status"] == "diverged"
    assert run.metrics["best_epoch"] == 1 and len(run.history) == 1
    assert (tmp_path / "model.safetensors").exists()


def test_divergence_before_the_first_epoch_saves_no_model(tmp_path, monkeypatch):
    import autorecipe.training.setup as loop
    monkeypatch.setattr(loop, "training_loss", lambda section, logits, targets, weights=None: logits.sum() * float("inf"))
    (tmp_path / "model.safetensors").write_bytes(b"weights of an earlier run in the same folder")
    run = autorecipe.fit("digits", overrides=QUICK, out=tmp_path, device="cpu", overwrite=True)
    assert run.metrics["status"] == "diverged" and run.metrics["best_epoch"] is None
    assert not (tmp_path / "model.safetensors").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "diverged"


def test_time_budget_stops_training_and_anneals_the_learning_rate(tmp_path):
    run = autorecipe.fit("digits", overrides={"width": 0.25}, epochs=10_000, time_budget="2s",
                         out=tmp_path, device="cpu")
    assert run.metrics["status"] == "time_budget"
    assert run.metrics["train_seconds"] < 10
    assert 1 <= len(run.history) < 10_000
    assert run.history[-1]["lr"] < 0.5 * run.metrics["peak_lr"]


def test_interruption_keeps_the_best_model(tmp_path, monkeypatch):
    from autorecipe.training.callbacks import Callback

    class StopInEpochTwo(Callback):
        def on_epoch(self, record):
            if record["epoch"] == 2:
                raise KeyboardInterrupt

    run = autorecipe.fit("digits", overrides={"epochs": 5, "width": 0.25}, out=tmp_path, device="cpu",
                         callbacks=[StopInEpochTwo()])
    assert run.metrics["status"] == "interrupted"
    assert (tmp_path / "model.safetensors").exists() and run.metrics["best_epoch"] in (1, 2)


def test_streaming_loader_yields_the_same_batches_as_the_resident_one():
    data = load_data("digits").subset(np.arange(0, 1797, 3))
    cpu = torch.device("cpu")
    resident = list(BatchLoader(data, cpu, 100, shuffle=True, seed=5, resident=True))
    streamed = list(BatchLoader(data, cpu, 100, shuffle=True, seed=5, resident=False, workers=0))
    assert len(resident) == len(streamed) == 6
    for (xa, ya), (xb, yb) in zip(resident, streamed):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert xa.dtype == torch.float32 and 0 <= xa.min() and xa.max() <= 1


def test_training_from_streamed_data_works(tmp_path, monkeypatch):
    import autorecipe.data.loader as loader
    monkeypatch.setattr(loader, "fits_on_device", lambda data, device: False)
    data = load_data("digits")
    result = train(Recipe().with_values(QUICK), data.subset(np.arange(0, 1797, 2)),
                   data.subset(np.arange(1, 1797, 2)), device=torch.device("cpu"))
    assert result.status == "completed" and len(result.history) == 2


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_precisions_train(precision):
    data = load_data("digits").subset(np.arange(0, 600))
    result = train(Recipe().with_values({**QUICK, "precision": precision, "epochs": 1}), data, data,
                   device=torch.device("cpu"))
    assert result.precision == precision and np.isfinite(result.history[0]["train_loss"])


def test_resnet18_trains_on_large_images_with_its_downsampling_stem():
    x = np.random.default_rng(0).integers(0, 255, (32, 112, 112, 3), dtype=np.uint8)
    y = np.arange(32) % 2
    data = load_data((x, y))
    result = train(Recipe().with_values({"model": "resnet18", "width": 0.125, "epochs": 1}), data, data,
                   device=torch.device("cpu"))
    assert result.status == "completed"


def test_a_callback_can_stop_training_after_an_epoch():
    from autorecipe.training.callbacks import Callback

    class StopAfterTwo(Callback):
        def on_epoch(self, record):
            return "enough" if record["epoch"] == 2 else None

    data = load_data("digits").subset(np.arange(0, 600))
    result = train(Recipe().with_values({**QUICK, "epochs": 5}), data, data, device=torch.device("cpu"),
                   callbacks=[StopAfterTwo()])
    assert result.status == "stopped" and len(result.history) == 2 and result.best_epoch in (1, 2)
    assert result.stop_reason == "enough"


def test_python_fit_shows_progress_by_default_and_is_silent_with_progress_false(tmp_path, capsys):
    autorecipe.fit("digits", overrides={**QUICK, "epochs": 1}, out=tmp_path / "shown", device="cpu")
    shown = capsys.readouterr().err
    assert "resnet9 (" in shown and "M parameters) on cpu" in shown and "1,618 training images" in shown
    assert "lr 0.4 per 512 images (peak 0.05 at batch 64)" in shown and "epoch   1/1" in shown
    autorecipe.fit("digits", overrides={**QUICK, "epochs": 1}, out=tmp_path / "silent", device="cpu", progress=False)
    assert capsys.readouterr().err == ""


def test_progress_renders_in_a_jupyter_notebook(tmp_path):
    import warnings
    from rich.console import Console
    from autorecipe.training.display import RichProgress
    notebook = Console(force_jupyter=True, record=True, width=120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rich asks for ipywidgets to animate the bar in a notebook
        run = autorecipe.fit("digits", overrides={**QUICK, "epochs": 2}, out=tmp_path / "run", device="cpu",
                             progress=RichProgress(notebook))
    text = notebook.export_text()
    assert "training images" in text and "epoch   2/2" in text
    assert run.metrics["lr"] == 0.4 and run.metrics["peak_lr"] == 0.05  # as the display said
