"""A trained run: saved and loaded exactly; evaluate and predict, from Python."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import autorecipe
from autorecipe import AutorecipeError
from autorecipe.data.dataset import load_data


def test_load_gives_the_same_model(digits_run):
    loaded = autorecipe.load(digits_run.path)
    assert loaded.classes == digits_run.classes and loaded.recipe == digits_run.recipe
    assert loaded.history == digits_run.history
    for key, value in digits_run.model.state_dict().items():
        assert torch.equal(value.cpu(), loaded.model.state_dict()[key])


def test_evaluate_scores_per_class_and_in_total(digits_run):
    result = autorecipe.evaluate(digits_run.path, "digits", device="cpu")
    assert result["count"] == 1797
    assert result["accuracy"] > 0.95
    assert set(result["per_class_accuracy"]) == set(digits_run.classes)
    confusion = np.array(result["confusion"])
    assert confusion.sum() == 1797 and np.trace(confusion) / 1797 == pytest.approx(result["accuracy"])


def test_predict_paths_and_arrays_agree_with_the_labels(digits_run, tmp_path):
    digits = load_data("digits")
    images = digits.images()[:20, 0]
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    from_files = digits_run.predict(paths, top_k=3)
    from_arrays = autorecipe.predict(digits_run.path, images, top_k=3)
    assert [[c for c, _ in top] for top in from_files] == [[c for c, _ in top] for top in from_arrays]
    assert all(len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1] for top in from_files)
    correct = sum(top[0][0] == str(label) for top, label in zip(from_files, digits.y[:20]))
    assert correct >= 18
    single = digits_run.predict(images[0])
    assert len(single) == 1 and single[0][0][0] == from_files[0][0][0]


def test_bad_inputs_to_a_run_are_clear_errors(digits_run, tmp_path):
    with pytest.raises(AutorecipeError, match="not a trained run"):
        autorecipe.load(tmp_path)
    with pytest.raises(AutorecipeError, match="no such image file"):
        digits_run.predict([tmp_path / "missing.png"])
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(AutorecipeError, match="bad.png: cannot read the image"):
        digits_run.predict([tmp_path / "bad.png"])
    with pytest.raises(AutorecipeError, match="top-k"):
        digits_run.predict([tmp_path / "bad.png"], top_k=0)
    x = np.zeros((4, 8, 8), np.uint8)
    with pytest.raises(AutorecipeError, match="'cat'.* not among the model's classes"):
        autorecipe.evaluate(digits_run, (x, np.array(["cat", "1", "2", "3"])))
    with pytest.raises(AutorecipeError, match=r"with C in 1, 3, 4; got \(2, 8, 8, 5\)"):
        digits_run.predict(np.zeros((2, 8, 8, 5), np.uint8))


@pytest.mark.parametrize("arguments, message", [
    ({"val_fraction": "0.1"}, "validation fraction must be between 0 and 1, got '0.1'"),
    ({"overrides": 5}, "overrides must be knob=value strings or a mapping, got int"),
    ({"overrides": [("lr", 0.1)]}, "expected knob=value"),
    ({"seed": 1.5}, "seed 1.5: expected an integer from 0"),
])
def test_arguments_of_the_wrong_type_are_clear_errors(arguments, message, tmp_path):
    with pytest.raises(AutorecipeError, match=message):
        autorecipe.fit("digits", out=tmp_path / "run", progress=False, **arguments)
    assert not (tmp_path / "run").exists()


def test_a_single_override_string_is_one_assignment():
    from autorecipe import Recipe
    assert Recipe.coerce(None, "label_smoothing=0.2").regularization.label_smoothing == 0.2


def test_a_zero_validation_fraction_trains_on_every_image_and_keeps_the_last_epoch(tmp_path):
    run = autorecipe.fit("digits", out=tmp_path / "all", device="cpu", val_fraction=0,
                         overrides={"width": 0.125, "epochs": 2, "batch_size": 64})
    m = run.metrics
    assert m["num_train"] == 1797 and m["num_val"] == 0 and m["val_accuracy"] is None
    assert m["best_epoch"] == 2 and (tmp_path / "all" / "model.safetensors").exists()
    with pytest.raises(AutorecipeError, match="validation fraction"):
        autorecipe.fit("digits", out=tmp_path / "bad", val_fraction=1.0)


def test_run_files_follow_the_umask(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        autorecipe.fit("digits", overrides={"epochs": 1, "width": 0.125}, out=tmp_path / "run", device="cpu")
        modes = {f.name: f.stat().st_mode & 0o777 for f in (tmp_path / "run").iterdir()}
        os.umask(0o077)
        autorecipe.fit("digits", overrides={"epochs": 1, "width": 0.125}, out=tmp_path / "private", device="cpu")
        private = {f.name: f.stat().st_mode & 0o777 for f in (tmp_path / "private").iterdir()}
    finally:
        os.umask(old)
    assert modes["model.safetensors"] == modes["recipe.yaml"] == modes["metrics.json"] == 0o644
    assert private["model.safetensors"] == 0o600


def test_the_package_lists_its_verbs_and_a_run_prints_in_one_line():
    assert {"fit", "search", "evaluate", "predict", "load", "Run", "Recipe", "__version__"} <= set(dir(autorecipe))
    run = autorecipe.load(Path(__file__).parent / "fixtures" / "run")
    text = repr(run)
    assert "\n" not in text and text.startswith("Run(resnet9, 10 classes, 8px gray, val_accuracy=0.6872")
