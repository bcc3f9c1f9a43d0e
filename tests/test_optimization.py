"""The optimization bucket: optimizers, schedules, the optimizer step, precision, batch norm, normalization."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autorecipe import AutorecipeError, Recipe
from autorecipe.data.dataset import load_data
from autorecipe.optimization import precision as precision_module
from autorecipe.optimization.compilation import compiled
from autorecipe.optimization.muon import orthogonalize
from autorecipe.optimization.optimizers import OPTIMIZERS, build_optimizer
from autorecipe.optimization.precision import resolve_precision
from autorecipe.optimization.schedule import apply_schedule, lr_factor, momentum_at, peak_lr
from autorecipe.training.classifier import Classifier
from autorecipe.training.loop import train
from autorecipe.training.setup import resolve_lr
from autorecipe.training.step import Stepper

CPU = torch.device("cpu")
LRS = {"sgd": 0.05, "adam": 0.05, "adamw": 0.05, "rmsprop": 0.01, "adagrad": 0.3, "lamb": 0.05, "lars": 5.0,
       "lion": 0.01, "muon": 0.05}


def section(**values):
    return Recipe().with_values(values).optimization


def least_squares(seed: int = 0):
    """A linear model and a convex least-squares problem it can solve exactly."""
    torch.manual_seed(seed)
    x = torch.randn(128, 8)
    y = torch.nn.Linear(8, 4)(x).detach()
    return torch.nn.Linear(8, 4), x, y


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_lowers_a_convex_loss(name):
    assert set(LRS) == set(OPTIMIZERS)
    model, x, y = least_squares()
    optimizer = build_optimizer(section(optimizer=name, lr=LRS[name]),
                                [{"params": list(model.parameters()), "weight_decay": 0.0}])
    first = F.mse_loss(model(x), y).item()
    for _ in range(100):
        loss = F.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert F.mse_loss(model(x), y).item() < 0.05 * first


def test_an_automatic_lr_is_the_optimizers_usual_one_and_sgds_the_architectures():
    assert Recipe().optimization.lr == 0.0  # auto
    assert resolve_lr(Recipe()).optimization.lr == 0.4  # ResNet-9 scales its scores down and trains hot
    assert resolve_lr(Recipe().with_values({"model": "vgg11"})).optimization.lr == 0.1
    assert resolve_lr(Recipe().with_values({"model": "usermodels:tiny_net"})).optimization.lr == 0.1
    auto_lr = {name: entry.auto_lr for name, entry in OPTIMIZERS.items() if entry.auto_lr is not None}
    assert set(auto_lr) == set(OPTIMIZERS) - {"sgd"}
    for name, lr in auto_lr.items():
        assert resolve_lr(Recipe().with_values({"optimizer": name})).optimization.lr == lr
    assert resolve_lr(Recipe().with_values({"lr": 0.05, "model": "vgg11"})).optimization.lr == 0.05


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(AutorecipeError, match="one of sgd, adam, adamw.*muon"):
        section(optimizer="adamm")


def test_muon_orthogonalizes_its_update():
    g = torch.randn(16, 40)
    singular = torch.linalg.svdvals(orthogonalize(g))
    assert singular.min() > 0.5 and singular.max() < 1.3
    assert orthogonalize(g.T).shape == (40, 16)


@pytest.mark.parametrize("schedule, last", [("constant", 1.0), ("step", 0.01), ("linear", 0.0), ("cosine", 0.0),
                                            ("onecycle", 0.0)])
def test_each_schedule_peaks_after_warmup_and_ends_where_it_should(schedule, last):
    s = section(schedule=schedule, warmup=0.25, step_gamma=0.1)
    start = 1 / 25 if schedule == "onecycle" else 0.0
    assert lr_factor(s, 0.0) == pytest.approx(start)
    assert lr_factor(s, 0.125) == pytest.approx(start + (1 - start) / 2)
    assert lr_factor(s, 0.25) == pytest.approx(1.0)
    assert lr_factor(s, 1.0) == pytest.approx(last, abs=1e-12)
    assert max(lr_factor(s, p / 100) for p in range(101)) == pytest.approx(1.0)


def test_step_and_cosine_shapes_between_warmup_and_the_end():
    assert lr_factor(section(schedule="step", warmup=0.0, step_gamma=0.2), 0.6) == pytest.approx(0.2)
    assert lr_factor(section(schedule="cosine", warmup=0.0), 0.5) == pytest.approx(0.5)
    assert lr_factor(section(schedule="linear", warmup=0.5), 0.75) == pytest.approx(0.5)


def test_onecycle_cycles_momentum_inversely_to_the_learning_rate():
    s = section(schedule="onecycle", warmup=0.3, momentum=0.95, optimizer="adamw")
    assert momentum_at(s, 0.3) == pytest.approx(0.85)
    assert momentum_at(s, 1.0) == pytest.approx(0.95)
    assert momentum_at(section(schedule="cosine"), 0.3) is None
    optimizer = build_optimizer(s, [{"params": [torch.zeros(2, requires_grad=True)], "lr_scale": 0.5}])
    lr = apply_schedule(s, optimizer, 2.0, 0.3)
    assert lr == pytest.approx(2.0) and optimizer.param_groups[0]["lr"] == pytest.approx(1.0)
    assert optimizer.param_groups[0]["betas"] == (pytest.approx(0.85), 0.999)


def test_peak_lr_scales_with_the_effective_batch():
    assert peak_lr(section(lr=0.4), 256) == pytest.approx(0.2)
    assert peak_lr(section(lr=0.4, accumulate=2), 256) == pytest.approx(0.4)
    assert peak_lr(section(lr=0.4, lr_scaling="sqrt"), 128) == pytest.approx(0.2)


def sgd_stepper(model, lr=0.1, **values):
    s = section(optimizer="sgd", momentum=0.0, **values)
    optimizer = build_optimizer(s, [{"params": list(model.parameters()), "weight_decay": 0.0}])
    for group in optimizer.param_groups:
        group["lr"] = lr
    return Stepper(s, model, optimizer, CPU, "fp32")


def test_accumulation_steps_once_on_the_mean_gradient():
    model, x, y = least_squares()
    reference = torch.nn.Linear(8, 4)
    reference.load_state_dict(model.state_dict())
    stepper = sgd_stepper(model, accumulate=2)
    before = model.weight.detach().clone()
    assert not stepper.backward(F.mse_loss(model(x[:64]), y[:64]))
    assert torch.equal(model.weight, before)
    assert stepper.backward(F.mse_loss(model(x[64:]), y[64:]))
    sgd_stepper(reference).backward(F.mse_loss(reference(x), y))
    assert torch.allclose(model.weight, reference.weight, atol=1e-6)
    assert model.weight.grad is None


def test_gradient_clipping_bounds_the_step():
    model, x, y = least_squares()
    before = [p.detach().clone() for p in model.parameters()]
    sgd_stepper(model, lr=0.1, grad_clip=0.01).backward(F.mse_loss(model(x), 100 * y))
    moved = torch.cat([(p - b).flatten() for p, b in zip(model.parameters(), before)]).norm()
    assert moved.item() == pytest.approx(0.1 * 0.01, rel=1e-4)


def test_lookahead_moves_slow_weights_part_way_every_k_steps():
    w = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(w.weight)
    stepper = sgd_stepper(w, lr=1.0, lookahead=True, lookahead_steps=2, lookahead_alpha=0.5)
    for _ in range(2):  # the gradient of -w is -1: each fast step adds 1
        stepper.backward(-w.weight.sum())
    assert w.weight.item() == pytest.approx(1.0)  # fast reached 2; slow moved half way from 0
    stepper.backward(-w.weight.sum())
    assert w.weight.item() == pytest.approx(2.0)  # a fast step between lookahead updates


def test_fp16_uses_loss_scaling_and_an_unsupported_precision_is_a_clear_error(monkeypatch):
    model, _, _ = least_squares()
    assert sgd_stepper(model).scaler.is_enabled() is False
    optimizer = build_optimizer(section(), [{"params": list(model.parameters())}])
    assert Stepper(section(), model, optimizer, CPU, "fp16").scaler.is_enabled()
    assert resolve_precision(section(precision="fp16"), CPU) == "fp16"
    monkeypatch.setattr(precision_module, "_supported", lambda device, dtype: False)
    with pytest.raises(AutorecipeError, match="fp16 is not supported on cpu.*fp32 or auto"):
        resolve_precision(section(precision="fp16"), CPU)


def test_fp16_training_runs():  # (bf16: tests/test_train.py)
    data = load_data("digits").subset(np.arange(0, 128))
    recipe = Recipe().with_values({"width": 0.125, "epochs": 1, "precision": "fp16", "batch_size": 32})
    result = train(recipe, data, data, device=CPU)
    assert result.precision == "fp16"
    assert np.isfinite(result.history[0]["train_loss"]) and np.isfinite(result.history[0]["val_loss"])


def test_optimizer_schedule_and_step_knobs_train_end_to_end():
    data = load_data("digits").subset(np.arange(0, 256))
    recipe = Recipe().with_values({"width": 0.125, "epochs": 1, "batch_size": 32, "optimizer": "muon", "lr": 0.02,
                                   "schedule": "onecycle", "accumulate": 2, "grad_clip": 1.0, "lookahead": True,
                                   "bn_momentum": 0.3})
    result = train(recipe, data, data, device=CPU)
    assert result.status == "completed" and np.isfinite(result.history[0]["train_loss"])


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_sets_the_memory_layout_of_training(channels_last):
    data = load_data("digits").subset(np.arange(0, 64))
    recipe = Recipe().with_values({"width": 0.125, "epochs": 1, "batch_size": 32, "channels_last": channels_last})
    model = train(recipe, data, None, device=CPU).model
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)
             and m.weight.shape[1] > 1 and m.weight.shape[-1] > 1]  # layouts differ only there
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) == channels_last for w in convs)


def test_batchnorm_momentum_and_epsilon_reach_every_layer():
    recipe = Recipe().with_values({"bn_momentum": 0.3, "bn_eps": 1e-3})
    norms = [m for m in Classifier(recipe, 10, 3, 32).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.3 and m.eps == 1e-3 for m in norms)


def test_compile_wraps_the_model_only_when_asked():
    model = torch.nn.Linear(2, 2)
    assert compiled(section(), model) is model
    assert compiled(section(compile=True), model)._orig_mod is model


def test_input_normalization_standardizes_or_scales():
    images = np.random.default_rng(0).integers(0, 256, (50, 3, 8, 8), dtype=np.uint8)
    x = torch.from_numpy(images).float() / 255
    standardize = Classifier(Recipe(), 2, 3, 8).normalize
    standardize.fit(section(input_norm="standardize"), images)
    out = standardize(x)
    assert torch.allclose(out.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(out.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    scale = Classifier(Recipe(), 2, 3, 8).normalize
    scale.fit(section(input_norm="scale"), images)
    assert torch.equal(scale(x), x)
