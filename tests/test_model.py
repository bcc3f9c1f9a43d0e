"""The first model families and the regularizers placed inside them."""

from __future__ import annotations

import pytest
import torch

from autorecipe import Recipe
from autorecipe.architecture import MODELS
from autorecipe.model import Classifier
from autorecipe.regularization.dropout import DropPath, drop_path_rates


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("channels, size", [(1, 8), (3, 32), (3, 112)])
def test_every_model_runs_forward_and_backward(model, channels, size):
    net = Classifier(Recipe().with_values({"model": model, "width": 0.125}), 5, channels, size)
    out = net(torch.rand(2, channels, size, size))
    assert out.shape == (2, 5)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_drop_path_drops_whole_samples_in_training_only():
    torch.manual_seed(0)
    drop = DropPath(0.25)
    x = torch.ones(4000, 3, 2, 2)
    y = drop(x)
    dropped = (y.flatten(1) == 0).all(1)
    assert 0.2 < dropped.float().mean() < 0.3
    assert torch.allclose(y[~dropped], torch.full_like(y[~dropped], 1 / 0.75))
    drop.eval()
    assert torch.equal(drop(x), x)
    assert drop_path_rates(0.2, 3) == [0.0, 0.1, 0.2]


def test_recipe_dropout_and_drop_path_reach_the_network():
    net = Classifier(Recipe().with_values({"dropout": 0.3, "drop_path": 0.2, "model": "resnet18"}), 3, 3, 32)
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.3]
    rates = [m.p for m in net.modules() if isinstance(m, DropPath)]
    assert len(rates) == 8 and rates[0] == 0.0 and rates[-1] == pytest.approx(0.2)
