"""The data bucket's noisy-label and resolution knobs: robust losses, down-weighted examples, training at a
smaller size than the model is evaluated at (fixed, progressive, a fine-tuning at full size)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import autorecipe
from autorecipe.data.dataset import load_data
from autorecipe.data.label_issues import apply_flagged
from autorecipe.data.loader import BatchLoader
from autorecipe.data.resolution import training_size, training_sizes
from autorecipe.errors import AutorecipeError
from autorecipe.recipe import Recipe
from autorecipe.regularization.loss import GCE_Q, training_loss
from autorecipe.training.setup import build_setup

QUICK = {"width": 0.25, "epochs": 3}


def _gradient(loss: str, logits: list[float], label: int, smoothing: float = 0.0) -> tuple[float, float]:
    section = SimpleNamespace(loss=loss, label_smoothing=smoothing)
    z = torch.tensor([logits], requires_grad=True)
    value = training_loss(section, z, torch.tensor([label]))
    value.backward()
    return float(value), float(z.grad.norm())


def test_robust_losses_learn_less_from_a_confidently_contradicted_label():
    confident_wrong, uncertain = [6.0, 0.0, 0.0], [0.5, 0.0, 0.0]
    ce_wrong, gce_wrong = _gradient("cross_entropy", confident_wrong, 1), _gradient("generalized_ce", confident_wrong, 1)
    assert gce_wrong[0] <= 1 / GCE_Q and gce_wrong[1] < 0.1 * ce_wrong[1]  # bounded, and it barely pulls
    ce_unsure, gce_unsure = _gradient("cross_entropy", uncertain, 1), _gradient("generalized_ce", uncertain, 1)
    assert gce_unsure[1] / ce_unsure[1] > 5 * gce_wrong[1] / ce_wrong[1]  # it still learns from plausible labels
    sce = _gradient("symmetric_ce", confident_wrong, 1)
    assert sce[0] > ce_wrong[0]  # cross-entropy plus the bounded reverse term
    mixed = torch.tensor([[0.7, 0.3, 0.0]])  # soft targets (mixup) and class weights are accepted
    for loss in ("symmetric_ce", "generalized_ce"):
        section = SimpleNamespace(loss=loss, label_smoothing=0.1)
        plain = training_loss(section, torch.tensor([[1.0, 0.0, 0.0]]), mixed)
        weighted = training_loss(section, torch.tensor([[1.0, 0.0, 0.0]]), mixed, torch.tensor([2.0, 2.0, 2.0]))
        assert weighted == pytest.approx(2 * plain)
    assert _gradient("cross_entropy", confident_wrong, 1, 0.1)[0] == pytest.approx(float(torch.nn.functional.cross_entropy(
        torch.tensor([confident_wrong]), torch.tensor([1]), label_smoothing=0.1)))


def test_a_fit_trains_with_each_robust_loss(tmp_path):
    for loss in ("symmetric_ce", "generalized_ce"):
        run = autorecipe.fit("digits", overrides={**QUICK, "loss": loss}, out=tmp_path / loss, progress=False)
        assert run.recipe.regularization.loss == loss and run.metrics["val_accuracy"] > 0.5


def test_down_weighted_images_are_drawn_in_proportion_to_their_label_quality():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (200, 8, 8)).astype(np.uint8), np.repeat([0, 1, 2], [75, 75, 50])
    data = load_data((x, y))
    flagged = {name: 0.1 for name in data.names(np.arange(150, 200))}  # class 2's 50 images, at quality 0.1
    weighted, count = apply_flagged(data, flagged, "downweight")
    dropped, _ = apply_flagged(data, flagged, "drop")
    assert count == 50 and len(weighted) == 200 and len(dropped) == 150 and 2 not in dropped.y
    setup = build_setup(Recipe.coerce(None, ["class_balance=none", "width=0.25"]), weighted, torch.device("cpu"))
    drawn = np.concatenate([b[1].numpy() for _ in range(10) for b in BatchLoader(
        weighted, torch.device("cpu"), 50, shuffle=True, weights=setup.sampling_weights)])
    share = np.mean(drawn == 2)
    assert 0.01 < share < 0.06  # 50 images at weight 0.1 of 155 in all: about 3%, not the 25% of plain draws
    assert apply_flagged(data, {"elsewhere.jpg": 0.1}, "drop") == (data, 0)


def test_the_training_size_follows_its_schedule():
    def section(share, schedule):
        return SimpleNamespace(train_size=share, resize_schedule=schedule)
    assert training_sizes(section(1.0, "progressive"), 32) == [32]
    assert training_sizes(section(0.5, "fixed"), 32) == [16]
    assert training_sizes(section(0.5, "progressive"), 32) == [16, 21, 27, 32]
    assert [training_size(section(0.5, "finetune"), 32, p) for p in (0.0, 0.89, 0.9, 1.0)] == [16, 16, 32, 32]
    assert Recipe.coerce(None, ["train_size=0.5", "resize_schedule=finetune"]).data.resize_schedule == "finetune"
    with pytest.raises(AutorecipeError, match="train_size"):
        Recipe.coerce(None, ["train_size=1.5"])


def test_a_fit_trains_smaller_than_it_evaluates_and_records_both(tmp_path):
    seen = []
    from autorecipe.training import setup as setup_module
    resized = setup_module.resized
    setup_module.resized = lambda x, size: seen.append(size) or resized(x, size)
    try:
        run = autorecipe.fit("digits", overrides={**QUICK, "image_size": 32, "train_size": 0.5,
                                                  "resize_schedule": "progressive", "epochs": 4},
                             out=tmp_path / "progressive", progress=False)
    finally:
        setup_module.resized = resized
    assert run.metrics["image_size"] == 32 and run.metrics["train_image_sizes"] == [16, 21, 27, 32]
    assert seen[0] == 16 and seen[-1] == 32 and sorted(set(seen)) == [16, 21, 27, 32]
    assert run.evaluate("digits")["count"] == 1797  # evaluated and saved at 32 px
    assert autorecipe.load(tmp_path / "progressive").image_size == 32
    vit = autorecipe.fit("digits", model="vit_tiny", overrides={**QUICK, "image_size": 32, "train_size": 0.5,
                                                                 "epochs": 1}, out=tmp_path / "vit", progress=False)
    assert vit.metrics["train_image_sizes"] == [16]  # position embeddings resized to the smaller grid
    with pytest.raises(AutorecipeError, match="does not take 16 px"):
        autorecipe.fit("digits", model="usermodels:fixed_size_net",
                       overrides={**QUICK, "image_size": 32, "train_size": 0.5}, out=tmp_path / "fixed", progress=False)
