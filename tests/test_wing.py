"""The training wing: one setup for train and both finders, registries that hold their facts,
knob constraints as objects, and the layering the import contracts enforce."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import autorecipe
import autorecipe.training.setup as wing_setup
from autorecipe import AutorecipeError, Recipe
from autorecipe.cli import main
from autorecipe.data.dataset import load_data
from autorecipe.knobs import Boolean, Interval, Options, Registered, Text, Uniform
from autorecipe.optimization.optimizers import OPTIMIZERS, register
from autorecipe.searching.space import build_space
from autorecipe.training.batch_finder import find_batch_size
from autorecipe.training.lr_finder import find_lr
from autorecipe.training.setup import resolve_lr

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def toy_optimizer():
    """An optimizer registered in one place, removed again after the test."""
    register("toy_sgd", auto_lr=0.05, decay="decoupled", search_rank=99)(
        lambda groups, s: torch.optim.SGD(groups, lr=s.lr))
    yield "toy_sgd"
    del OPTIMIZERS["toy_sgd"]


def test_a_registered_optimizer_reaches_the_knobs_the_search_space_and_the_cli(toy_optimizer, tmp_path, capsys):
    assert main(["knobs", "optimizer"]) == 0
    assert "toy_sgd (lr 0.05, decoupled decay)" in " ".join(capsys.readouterr().out.split())
    assert build_space().ranges["optimizer"].options[-1] == "toy_sgd"
    recipe = Recipe().with_values({"optimizer": "toy_sgd"})
    assert resolve_lr(recipe).optimization.lr == 0.05
    assert main(["fit", "digits", "--set", "optimizer=toy_sgd", "--epochs", "1", "--set", "width=0.125",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert Recipe.load(tmp_path / "run" / "recipe.yaml").optimization.optimizer == "toy_sgd"


def test_the_weight_decay_form_comes_from_the_optimizers_entry(toy_optimizer, monkeypatch):
    modes = []
    real = wing_setup.attach_penalties
    monkeypatch.setattr(wing_setup, "attach_penalties", lambda mode, opt: (modes.append(mode), real(mode, opt)))
    data = load_data("digits").subset(np.arange(64))
    for optimizer in ("sgd", "toy_sgd"):
        wing_setup.build_setup(Recipe().with_values({"optimizer": optimizer, "width": 0.125}), data, CPU)
    assert modes == ["coupled", "decoupled"]


def test_the_finders_train_what_fit_trains(monkeypatch):
    """Mixing, augmentation and label smoothing reach the finders' steps, through the one setup."""
    calls = {"mix": 0, "augment": 0}
    real_mix, real_augment = wing_setup.mix, wing_setup.build_augmentation

    def counted_mix(*args):
        calls["mix"] += 1
        return real_mix(*args)

    def counted_augment(*args):
        calls["augment"] += 1
        return real_augment(*args)

    monkeypatch.setattr(wing_setup, "mix", counted_mix)
    monkeypatch.setattr(wing_setup, "build_augmentation", counted_augment)
    data = load_data("digits")
    recipe = resolve_lr(Recipe().with_values({"width": 0.125, "mixup_alpha": 0.5, "batch_size": 32}))
    _, curve = find_lr(recipe, data, CPU, steps=60)
    assert calls["mix"] == len(curve.lrs) and calls["augment"] == 1
    find_batch_size(recipe, data, CPU)
    assert calls["augment"] == 2 and calls["mix"] > len(curve.lrs)


def test_a_fit_resolves_the_automatic_lr_once(monkeypatch, tmp_path):
    resolved = []
    import autorecipe.fitting as fitting
    real = wing_setup.resolve_lr

    def counting(recipe):
        if not recipe.optimization.lr:
            resolved.append(recipe.optimization.optimizer)
        return real(recipe)

    monkeypatch.setattr(fitting, "resolve_lr", counting)
    monkeypatch.setattr(wing_setup, "resolve_lr", counting)
    autorecipe.fit("digits", overrides={"epochs": 1, "width": 0.125}, out=tmp_path / "run", auto_lr=True,
                   auto_batch=True, device="cpu")
    assert resolved == ["sgd"]  # the finders and train receive the resolved lr


def test_constraints_convert_values_and_describe_the_valid_ones():
    assert Interval(int, 1, 10).convert("3") == 3 and Interval(float, 0.0, 1.0).convert(1) == 1.0
    assert str(Interval(int, 0)) == "an integer >= 0" and str(Interval(float, None, 2.0)) == "a number <= 2"
    assert not Interval(int, 1, 10).accepts(11) and not Interval(int).accepts(True)
    assert not Interval(float).accepts(float("nan"))
    assert Boolean().convert("on") is True and not Boolean().accepts(1)
    assert Text().convert("x") == "x" and not Text().accepts(3)
    live = {"a": 1}
    options = Options(live, other=("any 'x-' name", lambda v: v.startswith("x-")))
    live["b"] = 2
    assert options.convert("b") == "b" and options.convert("x-1") == "x-1"
    assert str(options) == "one of a, b; or any 'x-' name"
    assert not Uniform(0.1, 1.0, off=0.0).accepts(0.05) and Uniform(0.1, 1.0, off=0.0).accepts(0.0)


def test_a_knob_error_names_the_bad_value_and_the_valid_ones():
    with pytest.raises(AutorecipeError, match=r"optimization\.warmup: 2 is not valid; expected a number from 0 to 0\.9"):
        Recipe().with_values({"warmup": 2})
    with pytest.raises(AutorecipeError, match=r"'resnet19' is not valid; expected one of .*\(did you mean resnet\d+\?\)"):
        Recipe().with_values({"model": "resnet19"})


def test_a_registered_range_follows_its_registry_in_rank_order():
    class Entry:
        def __init__(self, rank):
            self.search_rank = rank

    entries = {"late": Entry(2), "never": Entry(None), "early": Entry(1)}
    assert Registered(entries).options == ("early", "late")
    entries["first"] = Entry(0)
    assert Registered(entries).options == ("first", "early", "late")


def test_the_layers_import_downward_only():
    """import-linter's contracts in pyproject.toml: the buckets import only the core, nothing imports the CLI."""
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 kept, 0 broken" in result.stdout
