"""Recipe validation, YAML round trip, overrides and baselines."""

from __future__ import annotations

import pytest

from autorecipe import AutorecipeError, Recipe
from autorecipe.knobs import BUCKETS, registry


def test_every_knob_is_declared_in_one_bucket_with_a_valid_default_and_baseline():
    knobs = registry()
    assert {k.bucket for k in knobs.values()} == set(BUCKETS)
    for knob in knobs.values():
        assert knob.validate(knob.default) == knob.default
        assert knob.validate(knob.baseline) == knob.baseline
        assert knob.doc


def test_yaml_round_trip_is_exact(tmp_path):
    recipe = Recipe().with_values({"lr": 0.123456789, "hflip": False, "model": "resnet18", "image_size": 48})
    path = tmp_path / "r.yaml"
    recipe.save(path)
    loaded = Recipe.load(path)
    assert loaded == recipe
    assert loaded.to_yaml() == path.read_text()
    assert loaded.optimization.lr == 0.123456789


def test_partial_recipe_takes_defaults_and_converts_types():
    recipe = Recipe.from_yaml("optimization:\n  lr: 1e-3\n  epochs: 3.0\nregularization:\n  hflip: 'no'\n")
    assert recipe.optimization.lr == 0.001 and isinstance(recipe.optimization.lr, float)
    assert recipe.optimization.epochs == 3 and isinstance(recipe.optimization.epochs, int)
    assert recipe.regularization.hflip is False
    assert recipe.regularization.label_smoothing == registry()["label_smoothing"].default


def test_unknown_knob_names_key_and_suggests_close_match():
    with pytest.raises(AutorecipeError, match=r"regularization\.label_smooth: unknown knob; did you mean label_smoothing\?"):
        Recipe.from_yaml("regularization:\n  label_smooth: 0.1\n")


def test_knob_in_the_wrong_section_names_its_bucket():
    with pytest.raises(AutorecipeError, match=r"regularization\.lr: unknown knob; lr is in the optimization bucket"):
        Recipe.from_dict({"regularization": {"lr": 0.1}})


def test_unknown_section_suggests_close_match():
    with pytest.raises(AutorecipeError, match=r"regularisation: unknown recipe section; did you mean regularization\?"):
        Recipe.from_dict({"regularisation": {}})


@pytest.mark.parametrize("key, value, message", [
    ("label_smoothing", 1.5, r"regularization\.label_smoothing: 1\.5 is not valid; expected a number from 0 to 1"),
    ("label_smoothing", "lots", r"'lots' is not valid; expected a number"),
    ("epochs", 2.5, r"optimization\.epochs: 2\.5 is not valid; expected an integer from 1"),
    ("nesterov", 3, r"optimization\.nesterov: 3 is not valid; expected true or false"),
    ("hflip", 3, r"regularization\.hflip: 3 is not valid; expected true, false or auto"),
    ("model", "resnet19", r"architecture\.model: 'resnet19' is not valid; expected one of .*resnet18.*did you mean"),
    ("lr", float("nan"), r"optimization\.lr: nan is not valid"),
])
def test_bad_values_name_key_value_and_valid_range(key, value, message):
    with pytest.raises(AutorecipeError, match=message):
        Recipe().with_values({key: value})


def test_overrides_parse_yaml_scalars_and_accept_qualified_names():
    recipe = Recipe().with_overrides(["lr=0.05", "regularization.hflip=false", "model=resnet18"])
    assert recipe.optimization.lr == 0.05
    assert recipe.regularization.hflip is False
    assert recipe.architecture.model == "resnet18"
    with pytest.raises(AutorecipeError, match="expected knob=value"):
        Recipe().with_overrides(["lr"])
    with pytest.raises(AutorecipeError, match=r"optimisation\.lr: unknown bucket 'optimisation'; did you mean optimization\?"):
        Recipe().with_overrides(["optimisation.lr=1"])


def test_attribute_assignment_is_validated():
    recipe = Recipe()
    recipe.optimization.lr = "0.2"
    assert recipe.optimization.lr == 0.2
    with pytest.raises(AutorecipeError):
        recipe.optimization.lr = -1


def test_switched_off_sets_the_bucket_to_its_baselines_only():
    recipe = Recipe().with_values({"lr": 0.3})
    off = recipe.switched_off("regularization")
    for name, knob in registry().items():
        if knob.bucket == "regularization":
            assert getattr(off.regularization, name) == knob.baseline
    assert off.optimization == recipe.optimization
    assert off.regularization.label_smoothing == 0.0 and off.regularization.hflip is False


def test_bad_yaml_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optimization: [unclosed\n")
    with pytest.raises(AutorecipeError, match="bad.yaml: .*not valid YAML"):
        Recipe.load(path)
    with pytest.raises(AutorecipeError, match="cannot read recipe"):
        Recipe.load(tmp_path / "missing.yaml")
    with pytest.raises(AutorecipeError, match="a recipe must be a mapping"):
        Recipe.from_yaml("- just\n- a list\n")


def test_conditional_knobs_name_the_knob_they_depend_on():
    from autorecipe.knobs import is_active
    nesterov = registry()["nesterov"]
    assert nesterov.when.knobs == ("optimizer",)
    assert is_active(nesterov, {"optimizer": "sgd"}) and not is_active(nesterov, {"optimizer": "adamw"})
    assert is_active(registry()["lr"], {})


def test_valid_values_name_the_kind_of_value():
    assert registry()["weights"].valid_values() == "text"
    assert registry()["nesterov"].valid_values() == "true or false"
    assert registry()["hflip"].valid_values() == "true, false or auto"
    assert registry()["label_smoothing"].valid_values().startswith("a number from 0")


def test_conditions_combine_tests_and_read_switches():
    from autorecipe.knobs import is_active
    mix_prob, switch = registry()["mix_prob"], registry()["mix_switch_prob"]
    for mixup, cutmix, mixed, both in ((0.0, 0.0, False, False), (0.2, 0.0, True, False),
                                       (0.0, 1.0, True, False), (0.2, 1.0, True, True)):
        values = {"mixup_alpha": mixup, "cutmix_alpha": cutmix}
        assert is_active(mix_prob, values) is mixed and is_active(switch, values) is both
    assert not is_active(registry()["ema_warmup"], {"ema_decay": 0.0})
    assert is_active(registry()["ema_warmup"], {"ema_decay": 0.999})
    assert not is_active(registry()["min_delta"], {"patience": 0})
    assert is_active(registry()["min_delta"], {"patience": 5})


def test_the_readmes_recipe_excerpt_is_the_default_recipe():
    import re
    from pathlib import Path
    import yaml
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    excerpt = yaml.safe_load(re.search(r"prints\nthe default recipe as YAML to start from:\n\n```yaml\n(.*?)```",
                                       readme, re.S).group(1))
    default = Recipe().to_dict()
    assert sum(len(knobs) for knobs in excerpt.values()) >= 10
    for bucket, knobs in excerpt.items():
        for name, value in knobs.items():
            assert default[bucket][name] == value, f"README says {bucket}.{name}: {value}"
