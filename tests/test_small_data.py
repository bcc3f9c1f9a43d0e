"""Defaults that suit small data: a batch floor and a batch-norm-safe batch, a warning when validation is
too small to tell recipes apart, and horizontal flips decided from the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import autorecipe
from autorecipe import AutorecipeError, Recipe
from autorecipe.cli import main
from autorecipe.data.dataset import load_data
from autorecipe.errors import AutorecipeWarning
from autorecipe.optimization.schedule import MIN_BATCH, batch_size
from autorecipe.regularization.augment import flips_keep_classes
from autorecipe.statistics import accuracy_halfwidth, wilson_interval
from autorecipe.training.setup import resolve_flip

QUICK = {"epochs": 1, "width": 0.125}


def digits(n: int):
    data = load_data("digits")
    return (np.transpose(data.images()[:n], (0, 2, 3, 1))[..., 0], data.y[:n])


def arrows(n: int = 200, seed: int = 0, mirrored_classes: bool = True):
    """Left- and right-pointing arrows (a flip changes the class), or bars and crosses (it does not)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, (n, 32, 32), dtype=np.uint8)
    y = np.arange(n) % 2
    for image, label in zip(x, y):
        row, col = rng.integers(8, 24, 2)
        for k in range(8):
            if mirrored_classes:
                c = col - 4 + k if label == 0 else col + 4 - k
                image[row - k // 2 - 1: row + k // 2 + 1, c] = 255
            else:
                image[row - 4: row + 4, col] = 255
                if label:
                    image[row, col - 4: col + 4] = 255
    return x, y


def test_the_automatic_batch_has_a_floor_and_never_exceeds_the_data():
    section = Recipe().optimization
    assert MIN_BATCH == 16
    assert batch_size(section, 108) == batch_size(section, 47) == 16  # was 4 and 2
    assert batch_size(section, 10) == 10 and batch_size(section, 1000) == 32 and batch_size(section, 50_000) == 512
    run = autorecipe.fit(digits(47), overrides=QUICK, device="cpu", progress=False, val_fraction=0.2)
    assert run.metrics["batch_size"] == 16 and run.metrics["status"] == "completed"


def test_a_batch_of_one_with_batch_norm_is_a_clear_error(tmp_path):
    with pytest.raises(AutorecipeError, match="batch norm needs at least 2 images a batch"):
        autorecipe.fit(digits(300), overrides={**QUICK, "batch_size": 1}, out=tmp_path / "bn", device="cpu",
                       progress=False)
    run = autorecipe.fit(digits(300), overrides={**QUICK, "batch_size": 1, "normalization": "group"},
                         out=tmp_path / "group", device="cpu", progress=False)
    assert run.metrics["batch_size"] == 1


def test_a_small_validation_split_is_named_with_the_width_of_its_interval(tmp_path, capsys):
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert accuracy_halfwidth(100) == pytest.approx(0.096, abs=0.002)
    with pytest.warns(AutorecipeWarning, match=r"validation holds 10 images: .* ±2\d points"):
        autorecipe.fit(digits(108), overrides=QUICK, out=tmp_path / "small", device="cpu", progress=False)
    assert "too coarse to tell recipes apart" in (tmp_path / "small" / "run.log").read_text()
    capsys.readouterr()  # the small fit's other warnings (its classes have few images), re-emitted by pytest.warns
    assert main(["fit", "digits", "--set", "width=0.125", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "cli"), "--val-fraction", "0.01"]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "validation holds 20 images" in warned[0]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutorecipeWarning)  # enough validation images: no warning
        autorecipe.fit("digits", overrides=QUICK, out=tmp_path / "enough", device="cpu", progress=False)


def test_flips_are_off_where_a_mirror_changes_the_class_and_on_where_it_does_not():
    x, y = arrows()
    assert flips_keep_classes(x[:, None], y)[0] is False
    x, y = arrows(mirrored_classes=False)
    assert flips_keep_classes(x[:, None], y)[0] is True
    data = load_data("digits")
    keep, plain, mirrored = flips_keep_classes(data.images(), data.y)
    assert keep is False and plain > 0.9 and mirrored < 0.5
    assert resolve_flip(Recipe(), data).regularization.hflip is False
    assert resolve_flip(Recipe().with_values({"hflip": True}), data).regularization.hflip is True  # as asked


def test_a_fit_records_the_flip_it_chose(tmp_path):
    x, y = arrows(mirrored_classes=False)
    run = autorecipe.fit((x, y), overrides=QUICK, out=tmp_path / "bars", device="cpu", progress=False)
    assert Recipe.load(tmp_path / "bars" / "recipe.yaml").regularization.hflip is True
    assert "hflip auto: on" in (tmp_path / "bars" / "run.log").read_text()
    run = autorecipe.fit("digits", overrides=QUICK, out=tmp_path / "digits", device="cpu", progress=False)
    assert run.recipe.regularization.hflip is False
    assert "hflip auto: off: a flip changes the class" in (tmp_path / "digits" / "run.log").read_text()
    assert torch.isfinite(torch.tensor(run.metrics["val_loss"]))
