"""The regularization bucket: each technique changes training the way its paper says."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from autorecipe import Recipe
from autorecipe.data.dataset import load_data
from autorecipe.optimization.lamb import LAMB
from autorecipe.optimization.optimizers import OPTIMIZERS
from autorecipe.regularization.augment import build_augmentation
from autorecipe.regularization.early_stopping import EarlyStopping
from autorecipe.regularization.ema import Ema
from autorecipe.regularization.loss import training_loss
from autorecipe.regularization.mixing import mix
from autorecipe.regularization.tta import shift, tta_logits, views
from autorecipe.regularization.weight_decay import attach_penalties, decay_mode, parameter_groups
from autorecipe.run import Run
from autorecipe.training.loop import train

OFF = Recipe().switched_off("regularization")


def section(**values):
    return OFF.with_values(values).regularization


def test_label_smoothing_raises_a_confident_predictions_loss_by_eps_times_the_margin():
    k, margin, eps = 10, 20.0, 0.1
    logits = torch.zeros(1, k)
    logits[0, 3] = margin
    target = torch.tensor([3])
    plain = training_loss(section(label_smoothing=0.0), logits, target)
    smooth = training_loss(section(label_smoothing=eps), logits, target)
    log_p = logits.log_softmax(1)[0]
    assert smooth.item() == pytest.approx((-(1 - eps) * log_p[3] - eps * log_p.mean()).item(), rel=1e-6)
    assert (smooth - plain).item() == pytest.approx(eps * (k - 1) / k * margin, rel=1e-3)


def test_mixup_blends_two_inputs_and_their_labels_by_the_same_weight():
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    mixed, target = mix(section(mixup_alpha=0.4), x, y, 5, np.random.default_rng(7))
    replay = np.random.default_rng(7)
    replay.random()  # the draw that decides whether to mix
    lam = replay.beta(0.4, 0.4)
    assert torch.allclose(mixed, lam * x + (1 - lam) * x.flip(0), atol=1e-6)
    expected = torch.zeros(4, 5)
    expected[range(4), y] += lam
    expected[range(4), y.flip(0)] += 1 - lam
    assert torch.allclose(target, expected.float(), atol=1e-6)


def test_cutmix_pastes_a_box_and_weights_the_labels_by_its_area():
    x, y = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    mixed, target = mix(section(cutmix_alpha=1.0, mixup_alpha=1.0, mix_switch_prob=1.0), x, y, 4,
                        np.random.default_rng(3))
    from_other = (mixed == x.flip(0)).all(1) & (mixed != x).any(1)  # (N, H, W) pixels taken from the pair
    assert ((mixed == x).all(1) | from_other).all()  # every pixel comes from one of the two images
    kept = 1 - from_other[0].float().mean().item()
    assert 0 < kept < 1
    assert target[0, 0].item() == pytest.approx(kept) and target[0, 3].item() == pytest.approx(1 - kept)


def test_mixing_is_skipped_when_off_or_by_its_probability():
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
    for knobs in ({}, {"mixup_alpha": 1.0, "mix_prob": 0.0}):
        same, target = mix(section(**knobs), x, y, 4, np.random.default_rng(0))
        assert same is x and target is y


def test_ema_weights_are_the_expected_running_average():
    model = nn.Linear(1, 1, bias=False)
    values = [1.0, 3.0, -2.0, 5.0]
    for warmup, decays in ((False, [0.5] * 4), (True, [min(0.5, (1 + t) / (10 + t)) for t in range(4)])):
        with torch.no_grad():
            model.weight.fill_(0.0)
        ema = Ema(model, 0.5, warmup)
        expected = 0.0
        for value, decay in zip(values, decays):
            with torch.no_grad():
                model.weight.fill_(value)
            ema.update()
            expected = decay * expected + (1 - decay) * value
        assert ema.model.weight.item() == pytest.approx(expected)


def _step_with_zero_gradients(model: nn.Module, knobs, optimizer_class, mode: str, lr: float = 0.5) -> None:
    optimizer = optimizer_class(parameter_groups(knobs, model), lr=lr)
    attach_penalties(mode, optimizer)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()


@pytest.mark.parametrize("mode, optimizer_class", [("decoupled", torch.optim.SGD), ("coupled", torch.optim.SGD),
                                                    ("decoupled", torch.optim.AdamW)])
def test_weight_decay_shrinks_weights_when_gradients_are_zero(mode, optimizer_class):
    model = nn.Linear(4, 2)
    weight, bias = model.weight.detach().clone(), model.bias.detach().clone()
    _step_with_zero_gradients(model, section(weight_decay=0.01, decay_norm_bias=False), optimizer_class, mode)
    assert torch.allclose(model.weight, weight * (1 - 0.5 * 0.01))
    assert torch.equal(model.bias, bias)  # biases are not decayed with decay_norm_bias off


def test_coupled_decay_goes_through_adams_scaling_and_decoupled_does_not():
    knobs, weights = section(weight_decay=0.01), {}
    for mode in ("coupled", "decoupled"):
        torch.manual_seed(0)
        model = nn.Linear(4, 2, bias=False)
        weight = model.weight.detach().clone()
        _step_with_zero_gradients(model, knobs, torch.optim.Adam, mode, lr=0.1)
        weights[mode] = model.weight.detach()
    # coupled: Adam normalizes the L2 gradient 0.01 * w, so each weight moves by about lr toward zero
    assert torch.allclose(weights["coupled"], weight - 0.1 * weight.sign(), atol=1e-4)
    assert torch.allclose(weights["decoupled"], weight * (1 - 0.1 * 0.01))


def test_auto_mode_uses_each_optimizers_published_form():
    auto = section(weight_decay_mode="auto")
    assert [decay_mode(auto, OPTIMIZERS[name].decay) for name in ("sgd", "adam", "adamw", "lion", "lamb", "lars")] == [
        "coupled", "coupled", "decoupled", "decoupled", "decoupled", "coupled"]
    assert decay_mode(section(weight_decay_mode="decoupled"), OPTIMIZERS["sgd"].decay) == "decoupled"


def test_lamb_decays_inside_its_trust_ratio():
    model = nn.Linear(4, 2, bias=False)
    weight = model.weight.detach().clone()
    _step_with_zero_gradients(model, section(weight_decay=0.01), LAMB, "decoupled", lr=0.1)
    # the update is 0.01 * w, rescaled by ||w|| / ||0.01 w||: w shrinks by lr, whatever the decay
    assert torch.allclose(model.weight, weight * (1 - 0.1))


def test_l1_moves_every_weight_toward_zero_by_the_same_step():
    model = nn.Linear(4, 2)
    weight = model.weight.detach().clone()
    _step_with_zero_gradients(model, section(l1=0.01), torch.optim.SGD, "coupled")
    assert torch.allclose(model.weight, weight - 0.5 * 0.01 * weight.sign())


def test_elastic_net_adds_both_penalties():
    model = nn.Linear(4, 2)
    weight = model.weight.detach().clone()
    _step_with_zero_gradients(model, section(l1=0.01, weight_decay=0.02), torch.optim.SGD, "coupled")
    assert torch.allclose(model.weight, weight - 0.5 * (0.02 * weight + 0.01 * weight.sign()))


AUGMENTATIONS = [
    {"hflip": True}, {"translate": 0.125}, {"resized_crop": 0.3}, {"color_jitter": 0.4},
    {"policy": "randaugment", "randaugment_n": 2, "randaugment_m": 12}, {"policy": "trivialaugment"},
    {"policy": "autoaugment"}, {"random_erasing": 1.0}, {"cutout": 0.5},
]


@pytest.mark.parametrize("knobs", AUGMENTATIONS, ids=lambda k: next(iter(k.items()))[0] + "=" + str(next(iter(k.values()))))
@pytest.mark.parametrize("channels", [3, 1])
def test_each_augmentation_keeps_shape_and_dtype_and_changes_images(knobs, channels):
    torch.manual_seed(0)
    augment = build_augmentation(section(**knobs), 16)
    assert len(augment) == 1
    x = torch.rand(8, channels, 16, 16)
    changed = False
    for _ in range(5):  # an automatic policy may draw an operation that leaves this batch as it is
        out = augment(x)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert 0.0 <= out.min() and out.max() <= 1.0
        changed = changed or not torch.allclose(out, x)
    assert changed


def test_no_augmentation_leaves_images_alone():
    x = torch.rand(4, 3, 16, 16)
    assert torch.equal(build_augmentation(OFF.regularization, 16)(x), x)


def test_tta_views_shift_and_average_probabilities():
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(shift(x, 1)[..., 1:, 1:], x[..., :-1, :-1])
    assert torch.equal(shift(x, -1)[..., :-1, :-1], x[..., 1:, 1:])
    assert [len(views(t, x)) for t in ("none", "flip", "flip_translate")] == [1, 2, 6]
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64, 4))
    expected = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2
    assert torch.allclose(tta_logits(model, x, "flip").softmax(1), expected, atol=1e-6)
    assert torch.equal(tta_logits(model, x, "none"), model(x))


def test_evaluate_and_predict_use_the_runs_tta(digits_run):
    flipped = Run(digits_run.model, digits_run.recipe.with_values({"tta": "flip"}), digits_run.classes)
    image = load_data("digits").x[:1, 0]
    assert flipped.evaluate("digits")["loss"] != digits_run.evaluate("digits")["loss"]
    assert flipped.predict(image)[0][0][1] != digits_run.predict(image)[0][0][1]


def test_early_stopping_counts_epochs_without_enough_gain():
    stopper = EarlyStopping(section(patience=2, min_delta=0.01))
    assert [stopper.should_stop(a) for a in (0.5, 0.6, 0.605, 0.609)] == [False, False, False, True]
    never = EarlyStopping(section(patience=0))
    assert not any(never.should_stop(0.5) for _ in range(10))


def test_early_stopping_ends_training():
    data = load_data("digits").subset(np.arange(0, 300))
    recipe = Recipe().with_values({"epochs": 4, "width": 0.25, "patience": 1, "min_delta": 1.0})
    result = train(recipe, data, data, device=torch.device("cpu"))
    assert result.status == "early_stopped" and len(result.history) == 2


def test_ema_changes_the_saved_model_but_not_training():
    data = load_data("digits")
    fit_data, val_data = data.subset(np.arange(0, 1200, 4)), data.subset(np.arange(1, 1200, 4))
    quick = Recipe().with_values({"epochs": 1, "width": 0.25})
    plain = train(quick, fit_data, val_data, device=torch.device("cpu"))
    averaged = train(quick.with_values({"ema_decay": 0.9}), fit_data, val_data, device=torch.device("cpu"))
    assert [h["train_loss"] for h in plain.history] == [h["train_loss"] for h in averaged.history]
    assert [h["val_loss"] for h in plain.history] != [h["val_loss"] for h in averaged.history]
    run = Run(averaged.model, quick.with_values({"image_size": 8, "channels": "gray"}), data.classes)
    best = averaged.history[averaged.best_epoch - 1]
    assert run.evaluate(val_data)["loss"] == pytest.approx(best["val_loss"], rel=1e-5)


def test_training_with_every_regularizer_on():
    data = load_data("digits").subset(np.arange(0, 400))
    everything = Recipe().with_values({
        "epochs": 1, "width": 0.25, "batch_size": 64, "resized_crop": 0.5, "color_jitter": 0.3,
        "policy": "trivialaugment", "random_erasing": 0.5, "cutout": 0.25, "mixup_alpha": 0.2,
        "cutmix_alpha": 1.0, "ema_decay": 0.99, "tta": "flip_translate", "weight_decay_mode": "decoupled",
        "l1": 1e-5, "decay_norm_bias": False, "dropout": 0.2, "drop_path": 0.1, "patience": 3,
    })
    result = train(everything, data, data, device=torch.device("cpu"))
    assert result.status == "completed" and math.isfinite(result.history[0]["train_loss"])
