"""Export: every zoo model and a user's own to ONNX and TorchScript with parity; the graph on raw uint8 images
matches `predict`; the README's serving code runs without autorecipe; bad requests are clear errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

import autorecipe
from autorecipe import AutorecipeError
from autorecipe.architecture.registry import MODELS
from autorecipe.cli import main
from autorecipe.data.dataset import load_data
from autorecipe.exporting import export, formats
from autorecipe.recipe import Recipe
from autorecipe.run import Run
from autorecipe.training.classifier import Classifier

README = Path(__file__).parent.parent / "README.md"
FP32 = {"width": 0.25, "epochs": 2, "precision": "fp32"}  # predict in float32, as the exported graphs run


def untrained_run(model: str, **knobs) -> Run:
    """A small untrained run of `model` at 16 px, 3 channels, 5 classes, calibrated by a temperature."""
    recipe = Recipe.coerce(None, {"model": model, "width": 0.125, "image_size": 16, "channels": "rgb", **knobs}, None)
    torch.manual_seed(0)
    return Run(Classifier(recipe, 5, 3, 16).eval(), recipe, list("abcde"), temperature=1.7)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_zoo_model_exports_with_parity(model, tmp_path):
    run = untrained_run(model)
    for kind in ("onnx", "torchscript"):
        written = export(run, kind, out=tmp_path / f"model.{kind}", batch="dynamic")
        parity = written.metadata["parity"]
        assert parity["passed"] and parity["max_abs_difference"] < 1e-4 and parity["batch_sizes"] == [1, 15]
        assert written.path.is_file() and json.loads(written.metadata_path.read_text()) == written.metadata


def test_test_time_augmentation_and_a_fixed_batch_are_inside_the_graph(tmp_path):
    run = untrained_run("resnet9", tta="flip_translate")
    written = export(run, "onnx", out=tmp_path / "m.onnx", batch=4)
    assert written.metadata["input"]["shape"] == [4, 16, 16, 3] and written.metadata["parity"]["batch_sizes"] == [4]
    graph = onnx.load(written.path)
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert sum(node.op_type == "Softmax" for node in graph.graph.node) == 7  # 6 views averaged, then calibrated
    embedded = json.loads({p.key: p.value for p in graph.metadata_props}["autorecipe"])
    assert embedded["classes"] == list("abcde") and embedded["temperature"] == pytest.approx(1.7)
    assert embedded["test_time_augmentation"] == "flip_translate"
    assert set(written.metadata["versions"]) >= {"autorecipe", "torch", "onnx", "onnxruntime"}
    large = export(run, "onnx", out=tmp_path / "large.onnx", batch=40).metadata["parity"]
    assert large["images"] == 40 and large["batch_sizes"] == [40]  # a batch larger than the usual 16 images


def test_a_users_own_model_exports(tmp_path):
    run = autorecipe.fit("digits", model="usermodels:tiny_net", overrides=FP32, out=tmp_path / "run", device="cpu",
                         progress=False)
    written = export(autorecipe.load(run.path, trust_model_code=True), "onnx")
    assert written.path == run.path / "model.onnx" and written.metadata["model"] == "usermodels:tiny_net"
    assert written.metadata["parity"]["passed"]


def test_a_model_that_cannot_be_traced_is_a_clear_error(tmp_path):
    class ValueDependent(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :5] if x.sum() > 0 else x.flatten(1)[:, 5:10]

    recipe = Recipe.coerce(None, {"image_size": 16, "channels": "rgb"}, None)
    run = Run(Classifier(recipe, 5, 3, 16, ValueDependent()), recipe, list("abcde"))
    with pytest.raises(AutorecipeError, match="parity check failed|cannot be exported"):
        export(run, "onnx", out=tmp_path / "m.onnx", batch="dynamic")
    assert not (tmp_path / "m.onnx").exists()


def test_a_failed_parity_check_writes_nothing(tmp_path, monkeypatch):
    onnx_format = formats.FORMATS["onnx"]
    runner = onnx_format.runner
    monkeypatch.setitem(formats.FORMATS, "onnx", formats.Format(
        "onnx", ".onnx", onnx_format.build, onnx_format.serialize,
        lambda data: (lambda images: runner(data)(images) + 1e-3), onnx_format.versions))
    with pytest.raises(AutorecipeError, match="parity check failed.*1.00e-03.*nothing written"):
        export(untrained_run("fastnet"), "onnx", out=tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_bad_export_requests_are_clear_errors(tmp_path):
    run = untrained_run("fastnet")
    with pytest.raises(AutorecipeError, match="--format 'tflite': unknown export format; choose onnx or torchscript"):
        export(run, "tflite", out=tmp_path / "m")
    for batch in (0, "-2", "many", "1.5"):
        with pytest.raises(AutorecipeError, match="--batch .*: expected a positive number of images or 'dynamic'"):
            export(run, "onnx", out=tmp_path / "m.onnx", batch=batch)
    with pytest.raises(AutorecipeError, match="no folder"):
        export(run, "onnx")
    with pytest.raises(AutorecipeError, match="not a trained run"):
        export(tmp_path, "onnx")
    (tmp_path / "notes.txt").write_text("a file of the user's")
    with pytest.raises(AutorecipeError, match="not an earlier export is there .*give a new file name"):
        export(run, "onnx", out=tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "a file of the user's"
    for _ in range(2):  # over its own export, again
        export(run, "onnx", out=tmp_path / "m.onnx")


def prepare_from_readme():
    """The README's `prepare` (the Pillow lines that make an image file the graph's input)."""
    namespace: dict = {}
    exec(serving_blocks()[0], namespace)
    return namespace["prepare"]


def serving_blocks() -> list[str]:
    """The Python blocks of the README's "Serve it without autorecipe" section."""
    text = README.read_text()
    section = text[text.index("### Serve it without autorecipe"):]
    section = section[:section.index("\n#", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A digits run (float32) exported to ONNX (batch 1 and dynamic) and TorchScript, and image files of
    several sizes and modes to feed them."""
    root = tmp_path_factory.mktemp("deploy")
    run = autorecipe.fit("digits", overrides=FP32, out=root / "runs" / "digits", device="cpu", progress=False)
    export(run.path, "onnx")
    export(run.path, "onnx", batch="dynamic", out=root / "dynamic.onnx")
    export(run.path, "torchscript")
    images = load_data("digits").images()[:12, 0]
    files = []
    for i, image in enumerate(images):  # other sizes and aspect ratios than the model's, in four modes
        mode, suffix = (("L", "png"), ("RGB", "jpg"), ("RGBA", "png"), ("P", "gif"))[i % 4]
        picture = Image.fromarray(image).resize((24 + 4 * i, 20 + 2 * i), Image.Resampling.NEAREST).convert(mode)
        files.append(root / f"{i}.{suffix}")
        picture.save(files[-1])
    (root / "a.png").write_bytes(files[0].read_bytes())
    (root / "b.png").write_bytes(files[1].read_bytes())
    return run, root, files


def test_the_exported_graph_on_raw_uint8_images_matches_predict(exported):
    import onnxruntime

    run, root, files = exported
    expected = run.predict(files, top_k=len(run.classes))
    prepare = prepare_from_readme()
    x = np.stack([prepare(f, run.image_size, True) for f in files])
    assert x.dtype == np.uint8 and x.shape == (len(files), 8, 8, 1)
    session = onnxruntime.InferenceSession(str(root / "dynamic.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x})[0]
    scripted = torch.jit.load(str(run.path / "model.torchscript.pt"))(torch.from_numpy(x)).detach().numpy()
    for top, onnx_row, script_row in zip(expected, got, scripted):
        for name, probability in top:
            index = run.classes.index(name)
            assert abs(onnx_row[index] - probability) < 1e-4 and abs(script_row[index] - probability) < 1e-4
    assert np.allclose(got.sum(1), 1, atol=1e-5)


def test_the_readme_serves_both_files_without_autorecipe(exported):
    run, root, _ = exported
    prepare, onnx_block, torchscript_block = serving_blocks()
    blocker = "import sys\nsys.modules['autorecipe'] = None  # importing autorecipe would fail\n"
    expected = [top[0] for top in run.predict([root / "a.png", root / "b.png"])]
    for block, check in ((onnx_block, f"{expected[0][0]} {expected[0][1]:.4f}"),
                         (torchscript_block, f"['{expected[0][0]}', '{expected[1][0]}']")):
        done = subprocess.run([sys.executable, "-c", blocker + prepare + block], cwd=root, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "autorecipe" not in (prepare + block).replace('"autorecipe"', "").replace('"autorecipe.json"', "")
        printed = done.stdout.strip()
        if block is onnx_block:
            name, probability = printed.split()
            assert f"{name} {float(probability):.4f}" == check
        else:
            assert printed.startswith(check)


def test_export_on_the_command_line(exported, capsys):
    run, root, _ = exported
    assert main(["export", str(run.path), "--format", "torchscript", "--out", str(root / "cli.pt")]) == 0
    printed = capsys.readouterr().out
    assert "exported" in printed and "8x8x1" in printed and "parity with PyTorch" in printed
    assert main(["export", str(run.path), "--batch", "dynamic", "--out", str(root / "cli.onnx"), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["input"]["shape"] == ["batch", 8, 8, 1] and meta["calibrated"] is True
    assert main(["export", str(run.path), "--format", "coreml"]) == 2
    assert "unknown export format" in capsys.readouterr().err
    (root / "serving").mkdir()
    assert main(["export", str(run.path), "--out", str(root / "serving")]) == 0  # a folder holds model.onnx
    assert sorted(p.name for p in (root / "serving").iterdir()) == ["model.onnx", "model.onnx.json"]



def test_a_full_disk_at_export_is_a_one_line_error(exported, monkeypatch, capsys):
    import errno
    import importlib

    module = importlib.import_module("autorecipe.exporting.export")  # the module, not the function it exports
    run, root, _ = exported

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(module, "write_atomic", full)
    assert main(["export", str(run.path), "--out", str(root / "full.onnx")]) == 2
    assert "full.onnx: cannot write the export (No space left on device)" in capsys.readouterr().err
