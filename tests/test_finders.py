"""The learning-rate range test and the batch-size finder, on problems whose answer is known, and in fit."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from autorecipe import AutorecipeError, Recipe
from autorecipe.cli import main
from autorecipe.optimization.schedule import peak_lr
from autorecipe.training.batch_finder import MARGIN, largest_fitting, throughput_knee
from autorecipe.training.lr_finder import _steepest, lr_range_test


def quadratic(curvature: float, seed: int = 0):
    """SGD on 0.5 * L * |w - noise|^2: it converges fastest near lr = 1/L and diverges above 2/L."""
    torch.manual_seed(seed)
    w = torch.nn.Parameter(torch.ones(10))
    model, optimizer = torch.nn.ParameterList([w]), torch.optim.SGD([w], lr=0.1)

    def step(_):
        loss = 0.5 * curvature * ((w - 0.1 * torch.randn(10)) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()

    return model, optimizer, step


@pytest.mark.parametrize("curvature", [1.0, 100.0])
def test_lr_range_test_finds_the_known_stable_range(curvature):
    model, optimizer, step = quadratic(curvature)
    curve = lr_range_test(model, optimizer, step, [(i,) for i in range(7)], min_lr=1e-4 / curvature,
                          max_lr=100 / curvature)
    assert 0.02 / curvature <= curve.suggestion <= 2 / curvature
    assert len(curve.lrs) < 100  # it stopped when the loss diverged, past 2/L
    assert all(np.isfinite(curve.losses)) and curve.lrs == sorted(curve.lrs)


def test_lr_range_test_restores_the_weights_and_repeats_exactly():
    model, optimizer, step = quadratic(10.0)
    before = model[0].detach().clone()
    torch.manual_seed(1)
    first = lr_range_test(model, optimizer, step, [(0,)], min_lr=1e-5, max_lr=10)
    assert torch.equal(model[0], before) and optimizer.param_groups[0]["lr"] == 0.1
    torch.manual_seed(1)
    second = lr_range_test(model, optimizer, step, [(0,)], min_lr=1e-5, max_lr=10)
    assert second == first


def test_lr_range_test_drops_non_finite_losses_and_fails_clearly_when_too_short():
    model, optimizer, step = quadratic(1.0)
    with pytest.raises(AutorecipeError, match="diverged after 0 steps.*lower the starting lr"):
        lr_range_test(model, optimizer, lambda _: torch.tensor(float("nan")), [(0,)])
    calls = iter(range(1000))
    curve = lr_range_test(model, optimizer, lambda _: step(0) if next(calls) < 40 else torch.tensor(float("inf")),
                          [(0,)], min_lr=1e-4, max_lr=1e-2)
    assert len(curve.lrs) == 40


def test_batch_finder_finds_the_memory_limit_with_a_margin_and_a_cap():
    tried = []

    def fits(batch):
        tried.append(batch)
        return batch <= 300

    found = largest_fitting(fits)
    assert MARGIN * 300 - 8 <= found <= MARGIN * 300 and found % 8 == 0
    assert tried[:6] == [16, 32, 64, 128, 256, 512]  # doubling first, then a binary search
    assert largest_fitting(lambda batch: True, cap=1000) == 512
    with pytest.raises(AutorecipeError, match="a batch of 16 does not fit"):
        largest_fitting(lambda batch: False)


def test_batch_finder_on_cpu_picks_the_throughput_knee():
    assert throughput_knee(lambda batch: float(min(batch, 128))) == 128
    assert throughput_knee(lambda batch: batch / (1 + batch / 64), cap=256) == 256
    assert throughput_knee(lambda batch: float(batch) if batch <= 64 else None) == 64


def test_fit_auto_lr_and_auto_batch_write_the_chosen_values(tmp_path):
    out = tmp_path / "run"
    code = main(["fit", "digits", "--auto-lr", "--auto-batch", "--set", "width=0.125", "--epochs", "1",
                 "--out", str(out), "--device", "cpu", "--quiet"])
    assert code == 0
    saved = Recipe.load(out / "recipe.yaml")
    rows = list(csv.DictReader((out / "lr_finder.csv").open()))
    assert len(rows) > 20 and [r for r in rows if r["suggested"] == "1"]
    suggested = float(next(r["lr"] for r in rows if r["suggested"] == "1"))
    assert peak_lr(saved.optimization, saved.optimization.batch_size) == pytest.approx(suggested, rel=1e-3)
    assert saved.optimization.lr != Recipe().optimization.lr
    assert 16 <= saved.optimization.batch_size <= 1617 // 16



def test_finder_trials_leave_a_user_network_untouched():
    from autorecipe.data.dataset import load_data
    from autorecipe.training.setup import build_setup
    network = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    before = [p.detach().clone() for p in network.parameters()]
    data = load_data("digits").subset(np.arange(64))
    setup = build_setup(Recipe(), data, torch.device("cpu"), network=network, ema=False, compile=False,
                        copy_network=True)
    setup.step(torch.rand(8, 1, 8, 8), torch.arange(8))
    assert all(torch.equal(p, b) for p, b in zip(network.parameters(), before))
    assert not all(torch.equal(p, b) for p, b in zip(setup.model.network.parameters(), before))


def test_a_loss_that_never_falls_is_named_as_such():
    lrs = list(np.geomspace(1e-6, 10, 60))
    with pytest.raises(AutorecipeError, match="no lr at which the loss falls"):
        _steepest(lrs, [1.0 + 0.01 * i for i in range(60)])
    with pytest.raises(AutorecipeError, match="diverged after 12 steps"):
        _steepest(lrs[:12], [1.0] * 12)
