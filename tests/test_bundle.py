"""The run folder as a bundle: a round trip gives identical outputs; runs saved before inference.json load and
predict; a folder whose files are missing, damaged or disagree is a one-line error naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import autorecipe
from autorecipe import AutorecipeError
from autorecipe.data.dataset import load_data

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "run"
    return autorecipe.fit("digits", overrides={"width": 0.25, "epochs": 2, "precision": "fp32"}, out=out,
                          device="cpu", progress=False)


def test_a_round_trip_gives_identical_outputs(saved_run):
    loaded = autorecipe.load(saved_run.path)
    images = load_data("digits").images()[:50].transpose(0, 2, 3, 1)
    assert loaded.predict(images, top_k=3) == saved_run.predict(images, top_k=3)
    assert loaded.inference() == saved_run.inference()
    assert json.loads((saved_run.path / "inference.json").read_text()) == saved_run.inference()
    assert loaded.temperature == saved_run.temperature is not None
    for key, value in saved_run.model.state_dict().items():
        assert torch.equal(value.cpu(), loaded.model.state_dict()[key])


def test_the_bundle_says_how_an_image_becomes_the_input(saved_run):
    inference = json.loads((saved_run.path / "inference.json").read_text())
    assert inference["input"]["image_size"] == 8 and inference["input"]["channels"] == "gray"
    assert "centre-crop" in inference["input"]["preprocessing"]
    mean = saved_run.model.normalize.mean.flatten().tolist()
    assert inference["normalization"]["mean"] == pytest.approx(mean) and inference["num_classes"] == 10


def test_a_run_of_0_1_0_loads_and_predicts_uncalibrated(tmp_path):
    run = autorecipe.load(FIXTURES / "run")
    assert run.temperature is None and not (FIXTURES / "run" / "inference.json").exists()
    rows = list(autorecipe.predict_source(run, load_data("digits").images()[:3].transpose(0, 2, 3, 1)))
    assert [len(r.top) for r in rows] == [1, 1, 1] and not any(r.error for r in rows)
    assert autorecipe.export(run, "onnx", out=tmp_path / "old.onnx").metadata["calibrated"] is False


def damaged(saved_run, tmp_path, name: str, content) -> Path:
    """A copy of the run folder with `name` replaced by `content` (bytes, text, or None: removed)."""
    folder = tmp_path / name.replace(".", "_")
    shutil.copytree(saved_run.path, folder)
    if content is None:
        (folder / name).unlink()
    elif isinstance(content, bytes):
        (folder / name).write_bytes(content)
    else:
        (folder / name).write_text(content)
    return folder


def edited(saved_run, name: str, change) -> str:
    """The text of `name` in the run folder with `change` applied to it (parsed JSON, or YAML text)."""
    text = (saved_run.path / name).read_text()
    if name.endswith(".json"):
        data = json.loads(text)
        change(data)
        return json.dumps(data)
    return change(text)


def test_bad_bundles_are_one_line_errors_naming_the_file(saved_run, tmp_path):
    weights = (saved_run.path / "model.safetensors").read_bytes()
    save_file({"foo": torch.zeros(2)}, tmp_path / "other.safetensors")

    def more_mean(d):
        d["normalization"]["mean"] = [0.9]

    def other_count(d):
        d["num_classes"] = 3

    cases = [
        ("classes.json", None, r"classes.json.*No such file"),
        ("recipe.yaml", None, r"cannot read recipe .*recipe.yaml"),
        ("model.safetensors", weights[: len(weights) // 2], r"damaged run folder"),
        ("model.safetensors", (tmp_path / "other.safetensors").read_bytes(), r"not autorecipe weights"),
        ("classes.json", json.dumps([str(i) for i in range(9)]),
         r"classes.json: number of classes 9, but the weights were trained with 10"),
        ("classes.json", json.dumps({"0": "zero"}), r"classes.json: expected a non-empty list of class names"),
        ("classes.json", json.dumps(["0"] * 10), r"a class name is listed twice"),
        ("classes.json", "[1, 2", r"damaged run folder"),
        ("recipe.yaml", edited(saved_run, "recipe.yaml", lambda t: t.replace("image_size: 8", "image_size: 16")),
         r"recipe.yaml: image size 16, but the weights were trained with 8; was recipe.yaml edited"),
        ("recipe.yaml", edited(saved_run, "recipe.yaml", lambda t: t.replace("channels: gray", "channels: rgb")),
         r"recipe.yaml: input channels 3, but the weights were trained with 1"),
        ("inference.json", "{not json", r"inference.json: damaged"),
        ("inference.json", edited(saved_run, "inference.json", lambda d: d.update(temperature=-1.0)),
         r"temperature -1.0 is not a positive number"),
        ("inference.json", edited(saved_run, "inference.json", more_mean), r"normalization does not match"),
        ("inference.json", edited(saved_run, "inference.json", other_count),
         r"inference.json: number of classes 3, but the run's other files say 10"),
    ]
    for name, content, message in cases:
        folder = damaged(saved_run, tmp_path, name, content)
        with pytest.raises(AutorecipeError, match=message) as raised:
            autorecipe.load(folder)
        assert "\n" not in str(raised.value)
        shutil.rmtree(folder)


def test_deleting_a_damaged_inference_json_loads_the_model_uncalibrated(saved_run, tmp_path):
    folder = damaged(saved_run, tmp_path, "inference.json", None)
    run = autorecipe.load(folder)
    assert run.temperature is None
    probabilities = np.array([p for _, p in run.predict(load_data("digits").images()[:1, 0], top_k=10)[0]])
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
