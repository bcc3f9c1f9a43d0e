"""The HTML report: every section from a run folder, the numbers in summary.json, escaping, images gone,
saliency for every zoo family and a user's model, gradient health, calibration, and a real browser opening it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import autorecipe
from autorecipe import AutorecipeError, Recipe
from autorecipe.architecture.registry import MODELS
from autorecipe.cli import main
from autorecipe.reporting.build import MAX_BYTES
from autorecipe.reporting.saliency import saliency
from autorecipe.calibration import calibration
from autorecipe.training.classifier import Classifier
from autorecipe.training.gradients import GradientMonitor, gradient_warnings

NASTY = ["<script>alert(1)</script>", "[/]bold[red]", '$x^2$ & "co"']


def _manifest(tmp_path, per_class: int = 40):
    """A CSV of 16 px PNGs in three classes with names that are markup in HTML, rich and matplotlib."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    rows = ["path,label"]
    for c, name in enumerate(NASTY):
        for i in range(per_class):
            pixels = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            pixels[:, :, c] += 150  # each class its own colour: learnable in an epoch or two
            path = folder / f"{c}-{i}.png"
            Image.fromarray(pixels).save(path)
            rows.append(f'{path},"{name.replace(chr(34), chr(34) * 2)}"')
    manifest = tmp_path / "data.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest, folder


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    manifest, folder = _manifest(tmp_path)
    run = autorecipe.fit(str(manifest), overrides={"epochs": 5, "width": 0.25}, out=tmp_path / "run", device="cpu",
                         val_fraction=0.25, progress=False)
    return run, manifest, folder


def test_a_run_report_has_every_section_escapes_user_text_and_matches_the_metrics(fitted):
    run, _, _ = fitted
    path = autorecipe.report(run.path)
    html = path.read_text()
    for heading in ("<h2>Data</h2>", "<h2>Training</h2>", "<h2>Results</h2>", "Gradient health", "Sample images",
                    "Highest-loss images", "Most confused pairs", "Per-class accuracy", "Timing and hardware"):
        assert heading in html
    assert "<script" not in html  # the class name is text, escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "[/]bold[red]" in html and "$x^2$ &amp; &#34;co&#34;" in html
    assert not re.search(r'(src|href)="(?!data:)', html)  # every image inline: opens offline
    assert path.stat().st_size < MAX_BYTES
    summary = json.loads((run.path / "summary.json").read_text())
    results = summary["results"]["numbers"]
    # the report rebuilt the fit's validation split from fit.json: the same images, the same accuracy
    assert results["images"] == run.metrics["num_val"]
    assert results["accuracy"] == pytest.approx(run.metrics["val_accuracy"], abs=1e-9)
    assert set(results["per_class_accuracy"]) == set(NASTY)
    assert np.array(results["confusion"]).sum() == run.metrics["num_val"]
    assert len(results["highest_loss"]) == 8 and results["saliency"] == "Grad-CAM"
    data = summary["data"]["numbers"]
    assert sum(data["class_counts"]["train"]) == run.metrics["num_train"]
    assert summary["training"]["numbers"]["verdict"]["kind"] in ("over_fitting", "under_fitting", "good_fit")
    assert summary["training"]["numbers"]["gradient_warnings"] == []
    assert 0 < summary["training"]["numbers"]["gradient_sampling_share"] < 0.02
    assert 0 <= results["calibration"]["ece"] <= 1


def test_the_report_says_plainly_when_the_images_are_gone(fitted, tmp_path):
    run, manifest, _ = fitted
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    record = json.loads((copy / "fit.json").read_text())
    record["arguments"]["data"] = str(tmp_path / "moved.csv")
    (copy / "fit.json").write_text(json.dumps(record))
    html = autorecipe.report(copy).read_text()
    assert "are gone" in html and "moved.csv" in html
    assert "<h2>Training</h2>" in html and "loss, accuracy and learning-rate curves" in html
    summary = json.loads((copy / "summary.json").read_text())
    assert "gone" in summary["data"]["note"] and "gone" in summary["results"]["note"]
    # given the images again, the sections come back
    autorecipe.report(copy, data=str(manifest))
    assert "note" not in json.loads((copy / "summary.json").read_text())["results"]


def test_report_command_and_its_errors(fitted, tmp_path, capsys):
    run, _, _ = fitted
    assert main(["report", str(run.path)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run, search, ablation or comparison folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(run.path), "--data", str(tmp_path / "moved")]) == 2  # a source given must be there
    assert f"--data {tmp_path / 'moved'}: no such file or folder" in capsys.readouterr().err.replace("\n", "")


def test_a_fit_from_the_command_line_writes_its_report_unless_told_not_to(tmp_path, capsys):
    assert main(["fit", "digits", "--epochs", "1", "--out", str(tmp_path / "a"), "--device", "cpu", "--quiet"]) == 0
    assert (tmp_path / "a" / "report.html").is_file()
    assert main(["fit", "digits", "--epochs", "1", "--out", str(tmp_path / "b"), "--device", "cpu", "--quiet",
                 "--no-report"]) == 0
    assert not (tmp_path / "b" / "report.html").exists()


@pytest.mark.parametrize("model", sorted(MODELS))
def test_saliency_works_for_every_zoo_family(model):
    torch.manual_seed(0)
    net = Classifier(Recipe().with_values({"model": model, "width": 0.0625, "depth": 0.1}), 4, 3, 32).eval()
    maps, method = saliency(net, torch.rand(2, 3, 32, 32), torch.tensor([0, 3]))
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1 and maps.max() > 0
    assert method in ("Grad-CAM", "input gradient")


def test_grad_cam_finds_the_object_and_a_model_without_convolutions_gets_input_gradients():
    class Pooled(nn.Module):
        """A 1x1 convolution, global average pooling, and the pooled feature as class 1's logit."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1, bias=False)
            with torch.no_grad():
                self.conv.weight.copy_(torch.tensor([[1.0, 1.0, 1.0], [-1.0, 0.0, 0.0]])[:, :, None, None])

        def forward(self, x):
            pooled = torch.relu(self.conv(x)).mean((2, 3))
            return torch.stack([torch.zeros_like(pooled[:, 0]), pooled[:, 0]], 1)

    image = torch.zeros(1, 3, 16, 16)
    image[:, :, 2:5, 10:13] = 1.0  # the object: a bright patch on black
    maps, method = saliency(Pooled(), image, torch.tensor([1]))
    assert method == "Grad-CAM"
    row, column = np.unravel_index(maps[0].argmax(), maps[0].shape)
    assert row in range(1, 6) and column in range(9, 14)
    assert maps[0, 10:, :].max() < 0.05 and maps[0, :, :6].max() < 0.05  # away from the object: nothing

    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    with torch.no_grad():
        mlp[1].weight.zero_()
        mlp[1].weight[1, 5] = 1.0  # class 1 reads one pixel of the first channel
    maps, method = saliency(mlp, torch.rand(1, 3, 8, 8), torch.tensor([1]))
    assert method == "input gradient"
    assert maps[0].argmax() == 5 and maps[0].sum() == pytest.approx(1.0)


def test_gradient_warnings_name_vanishing_and_exploding_layers_and_stay_quiet_on_healthy_norms():
    steps = list(range(10, 110, 10))
    healthy = [[1.0 + 0.1 * i, 0.5] for i in range(10)]
    assert gradient_warnings(["a", "b"], steps, healthy) == []
    exploding = [row[:] for row in healthy]
    exploding[7][0] = 1e4
    assert any("exploding" in w and "a's norm" in w and "step 80" in w
               for w in gradient_warnings(["a", "b"], steps, exploding))
    assert any("not finite" in w for w in gradient_warnings(["a", "b"], steps, [[float("inf"), 1.0]] + healthy[1:]))
    vanishing = [[1.0, 1e-9] for _ in steps]
    assert any("vanishing" in w and "(b)" in w for w in gradient_warnings(["a", "b"], steps, vanishing))


def test_the_monitor_samples_every_layer_and_thins_its_record():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    monitor = GradientMonitor(model)
    assert monitor.layers == ["0", "2"]
    for _ in range(6000):
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        monitor.observe()
    record = monitor.record(train_seconds=10.0)
    assert 0 < len(record["steps"]) < 256 and record["every"] > 10
    assert record["norms"][0] == pytest.approx([float(np.sqrt(4 * 3 * 9)), float(np.sqrt(2 * 144))])


def test_expected_calibration_error_on_known_bins():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 1, 0, 1])
    found = calibration(probabilities, labels, bins=10)
    # bin 0.9: confidence 0.9, accuracy 0.5 (2 images); bin 0.6: confidence 0.6, accuracy 1.0 (2 images)
    assert found.ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    assert [b["count"] for b in found.bins] == [2, 2]


def test_the_report_opens_in_a_real_browser(fitted, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("AUTORECIPE_REQUIRE_BROWSER"):
            pytest.fail("AUTORECIPE_REQUIRE_BROWSER is set but no chromium is installed")
        pytest.skip("no chromium (CI installs it and sets AUTORECIPE_REQUIRE_BROWSER)")
    run, _, _ = fitted
    path = autorecipe.report(run.path)
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0"]  # the page's console messages go to stderr as INFO:CONSOLE
    dom = subprocess.run([browser, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert "<h2>Results</h2>" in dom.stdout and "alert(1)" in dom.stdout  # the name, as text in the page
    assert "<script>" not in dom.stdout
    assert ":CONSOLE" not in dom.stderr, dom.stderr
    subprocess.run([browser, *flags, "--window-size=1200,3000", f"--screenshot={shot}", path.as_uri()],
                   capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.std() > 10  # drawn: text and plots, not a blank page


def test_a_damaged_run_file_leaves_its_part_out_with_a_note(fitted, tmp_path):
    run, _, _ = fitted
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    (copy / "gradients.json").write_text("{not json")
    (copy / "history.csv").write_text("epoch,train_loss\n1,abc\n")
    html = autorecipe.report(copy).read_text()
    assert "no gradient norms recorded" in html and "no epochs recorded" in html
    (tmp_path / "empty").mkdir()
    with pytest.raises(AutorecipeError, match="not a run, search"):
        autorecipe.report(tmp_path / "empty")


def test_a_search_report_has_the_history_importance_trials_and_the_retrained_run(tmp_path):
    autorecipe.search("digits", budget="4 trials", epochs=1, sampler="random", pruner="none", library=False,
                      out=tmp_path / "search", progress=False, device="cpu")
    html = autorecipe.report(tmp_path / "search").read_text()
    for part in ("<h2>Search</h2>", 'alt="search history"', "<h3>Trials</h3>", "<h2>Results</h2>",
                 "the retrained best recipe"):
        assert part in html
    summary = json.loads((tmp_path / "search" / "summary.json").read_text())
    assert "best_recipe" in summary and summary["report"]["search"]["numbers"]["trials"]["complete"] >= 1
