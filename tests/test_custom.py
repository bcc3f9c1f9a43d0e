"""Your own model (a factory path, a module, timm) and transfer learning from a weights file."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

import autorecipe
import usermodels
from autorecipe import AutorecipeError, Recipe
from autorecipe.architecture.pretrained import layers
from autorecipe.cli import main
from autorecipe.data.dataset import load_data
from autorecipe.optimization.finetune import layerwise_groups
from autorecipe.regularization.weight_decay import parameter_groups
from autorecipe.training.callbacks import Callback
from autorecipe.training.classifier import Classifier
from autorecipe.training.loop import train

QUICK = {"epochs": 1, "width": 0.125}
CPU = torch.device("cpu")


def digits(classes: int):
    """The digits 0 .. classes-1, as a dataset of that many classes."""
    data = load_data("digits")
    keep = np.flatnonzero(data.y < classes)
    return load_data((data.x[keep, 0], data.y[keep]))


def test_a_factory_is_recorded_by_its_import_path_and_the_saved_run_rebuilds_it(tmp_path):
    run = autorecipe.fit("digits", model=usermodels.tiny_net, overrides=QUICK, out=tmp_path, device="cpu")
    assert run.recipe.architecture.model == "usermodels:tiny_net"
    assert Recipe.load(tmp_path / "recipe.yaml").architecture.model == "usermodels:tiny_net"
    with pytest.raises(AutorecipeError, match="--trust-model-code"):  # a run folder's code runs only when trusted
        autorecipe.evaluate(tmp_path, "digits")
    assert autorecipe.evaluate(autorecipe.load(tmp_path, trust_model_code=True), "digits")["count"] == 1797
    for model in (usermodels.tiny_net, "usermodels:tiny_net"):
        assert autorecipe.load(tmp_path, model=model).recipe.architecture.model == "usermodels:tiny_net"


def test_the_cli_takes_a_factory_path(tmp_path, capsys):
    assert main(["fit", "digits", "--model", "usermodels:tiny_net", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path)]) == 0
    assert "usermodels:tiny_net" in (tmp_path / "recipe.yaml").read_text()


def test_a_module_object_trains_and_loading_its_run_asks_for_the_module(tmp_path):
    run = autorecipe.fit("digits", model=usermodels.tiny_net(10, 1), overrides=QUICK, out=tmp_path, device="cpu")
    assert run.recipe.architecture.model == "object"
    with pytest.raises(AutorecipeError, match=r"autorecipe.load\(path, model="):
        autorecipe.load(tmp_path)
    loaded = autorecipe.load(tmp_path, model=usermodels.tiny_net(10, 1))
    assert torch.equal(loaded.model.network[0].weight, run.model.network[0].weight)


@pytest.mark.parametrize("name, message", [
    ("nosuchpackage.models:net", "cannot import nosuchpackage.models"),
    ("usermodels:nothing", "usermodels has no attribute 'nothing'"),
    ("usermodels:NOT_CALLABLE", "int object is not callable"),
    ("usermodels:not_a_module", "the factory returned a str, expected a torch.nn.Module"),
    ("usermodels:wrong_output", r"returns \(2, 5\) for a batch of 2, expected logits of shape \(2, 4\)"),
    ("timm:resnet18", r"needs timm, which is not installed; install it with pip install 'autorecipe\[timm\]'"),
])
def test_bad_factories_are_clear_errors(name, message, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # timm is not installed
    with pytest.raises(AutorecipeError, match=message):
        Classifier(Recipe().with_values({"model": name}), 4, 1, 8)


def test_a_module_object_is_checked_like_a_factory(tmp_path):
    with pytest.raises(AutorecipeError, match=r"model Sequential object: returns \(2, 5\) for a batch of 2, "
                                              r"expected logits of shape \(2, 10\)"):
        autorecipe.fit("digits", model=usermodels.tiny_net(5, 1), overrides=QUICK, out=tmp_path, device="cpu")
    with pytest.raises(AutorecipeError, match=r"model Sequential object: a forward pass on \(2, 1, 8, 8\) images "
                                              "failed with RuntimeError"):
        autorecipe.fit("digits", model=usermodels.tiny_net(10, 3), overrides=QUICK, out=tmp_path, device="cpu")


def test_a_factory_that_fails_names_its_error():
    with pytest.raises(AutorecipeError, match="the factory failed with TypeError"):
        Classifier(Recipe(), 4, 1, 8, network=lambda num_classes, bad: None)


def test_timm_models_are_built_by_timm_when_it_is_installed(monkeypatch):
    calls = []

    def create_model(name, pretrained, num_classes, in_chans):
        calls.append((name, pretrained, num_classes, in_chans))
        return usermodels.tiny_net(num_classes, in_chans)

    monkeypatch.setitem(sys.modules, "timm", types.SimpleNamespace(create_model=create_model))
    net = Classifier(Recipe().with_values({"model": "timm:convnext_atto"}), 4, 3, 16)
    assert calls == [("convnext_atto", False, 4, 3)]
    assert net(torch.rand(2, 3, 16, 16)).shape == (2, 4)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A ResNet-18 trained on the ten digits, to transfer from."""
    out = tmp_path_factory.mktemp("source")
    return autorecipe.fit("digits", overrides={**QUICK, "model": "resnet18"}, out=out, device="cpu")


def test_transfer_loads_the_backbone_and_replaces_the_head(tmp_path, source):
    state = {k.removeprefix("network."): v for k, v in source.model.state_dict().items() if k.startswith("network.")}
    torch.save(state, tmp_path / "backbone.pt")
    for weights in (source.path / "model.safetensors", tmp_path / "backbone.pt"):
        recipe = Recipe().with_values({**QUICK, "model": "resnet18", "weights": str(weights), "epochs": 1,
                                       "freeze_epochs": 1})
        three = digits(3)
        result = train(recipe, three, three, device=CPU)
        new, old = result.model.network, source.model.network
        assert new[-1][-1].out_features == 3
        for i in range(len(old) - 1):  # frozen for the only epoch: the backbone is the source's
            for p_new, p_old in zip(new[i].parameters(), old[i].parameters()):
                assert torch.equal(p_new, p_old)


class Snapshots(Callback):
    """Copies a network's state (parameters and batch-norm statistics) at the end of every epoch."""

    def __init__(self, network: torch.nn.Module):
        self.network, self.states = network, []

    def on_epoch(self, record: dict) -> None:
        self.states.append({k: v.clone() for k, v in self.network.state_dict().items()})


def test_the_backbone_is_frozen_for_freeze_epochs_then_learns(source):
    recipe = Recipe().with_values({**QUICK, "model": "resnet18", "weights": str(source.path / "model.safetensors"),
                                   "epochs": 2, "freeze_epochs": 1})
    network = Classifier(recipe, 3, 1, 8).network  # trained in place, so the reporter sees it
    fresh_head = network[-1][-1].weight.clone()
    snapshots = Snapshots(network)
    three = digits(3)
    train(recipe, three, three, device=CPU, callbacks=[snapshots], network=network)
    start = {k.removeprefix("network."): v for k, v in source.model.state_dict().items() if k.startswith("network.")}
    head = f"{len(network) - 1}."
    backbone = [k for k in network.state_dict() if not k.startswith(head)]
    assert any("running_mean" in k for k in backbone)
    after_freeze, after_unfreeze = snapshots.states
    assert [k for k in backbone if not torch.equal(after_freeze[k], start[k])] == []  # batch-norm statistics too
    learned = {k.split(".")[0] for k in backbone if not torch.equal(after_unfreeze[k], start[k])}
    assert learned == {k.split(".")[0] for k in backbone}  # every backbone layer learns once unfrozen
    assert not torch.equal(after_freeze[f"{head}{len(network[-1]) - 1}.weight"], fresh_head)  # the head learns


def test_weights_that_do_not_fit_the_model_are_a_clear_error(tmp_path, source):
    recipe = Recipe().with_values({**QUICK, "model": "resnet34", "weights": str(source.path / "model.safetensors")})
    with pytest.raises(AutorecipeError, match="do not fit model resnet34: .* missing"):
        train(recipe, digits(3), None, device=CPU)
    (tmp_path / "code.pt").write_bytes(b"not a state dict")
    with pytest.raises(AutorecipeError, match="cannot read it|not a plain state dict"):
        train(Recipe().with_values({**QUICK, "weights": str(tmp_path / "code.pt")}), digits(3), None, device=CPU)
    with pytest.raises(AutorecipeError, match="no such file"):
        train(Recipe().with_values({**QUICK, "weights": str(tmp_path / "none.safetensors")}), digits(3), None,
              device=CPU)


def test_state_dicts_holding_code_are_refused(tmp_path):
    torch.save({"weight": torch.zeros(1), "hook": print}, tmp_path / "pickled.pt")
    with pytest.raises(AutorecipeError, match="not a plain state dict|cannot read it"):
        train(Recipe().with_values({**QUICK, "weights": str(tmp_path / "pickled.pt")}), digits(3), None, device=CPU)


def test_layer_wise_learning_rate_decay_scales_earlier_layers_down():
    recipe = Recipe().with_values({"model": "resnet18", "width": 0.125, "layer_lr_decay": 0.5})
    model = Classifier(recipe, 3, 1, 8)
    groups = layerwise_groups(recipe.optimization, layers(model.network),
                              parameter_groups(recipe.regularization, model))
    layer_of = {id(p): i for i, layer in enumerate(model.network) for p in layer.parameters()}
    last = len(model.network) - 1
    for group in groups:
        assert {0.5 ** (last - layer_of[id(p)]) for p in group["params"]} == {group["lr_scale"]}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    result = train(recipe.with_values({"epochs": 1, "width": 0.0625}), digits(2), None, device=CPU)
    assert np.isfinite(result.history[0]["train_loss"])
