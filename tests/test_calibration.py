"""Calibration: temperature scaling lowers the expected calibration error of an over-confident model, is fitted
after training and used by predict, evaluate and the report; without validation images it is skipped, and
the run says so."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import autorecipe
from autorecipe.calibration import calibrate, calibration, fit_temperature, probabilities
from autorecipe.data.dataset import load_data
from autorecipe.fitting import calibrate_run

QUICK = {"width": 0.25, "epochs": 3}


def overconfident_logits(n: int = 2000, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits right 70% of the time whose softmax says about 99%."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    predicted = np.where(rng.random(n) < 0.7, labels, rng.integers(0, classes, n))
    logits = rng.normal(0, 1, (n, classes))
    logits[np.arange(n), predicted] += 8
    return logits, labels


def test_temperature_scaling_lowers_the_ece_of_over_confident_logits():
    logits, labels = overconfident_logits()
    record = calibrate(logits, labels)
    assert record["temperature"] > 2 and record["ece_after"] < record["ece_before"] / 4
    assert record["nll_after"] < record["nll_before"]
    assert sum(b["count"] for b in record["reliability_after"]) == len(labels) == record["images"]
    assert (probabilities(logits, 3.0).argmax(1) == logits.argmax(1)).all()  # the predicted class never changes


def test_a_calibrated_model_keeps_a_temperature_near_one():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (4000, 4))
    labels = np.array([rng.choice(4, p=p) for p in probabilities(logits)])  # drawn from the model's own beliefs
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.1)


def test_calibration_lowers_the_ece_of_a_deliberately_over_confident_model(tmp_path):
    digits = load_data("digits")
    x, y = digits.images().transpose(0, 2, 3, 1), digits.y
    run = autorecipe.fit((x[:200], y[:200]), val=(x[1000:], y[1000:]), overrides={**QUICK, "epochs": 20},
                         out=tmp_path / "run", device="cpu", progress=False)  # about 93% right on 797 images
    head = [m for m in run.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # logits 10 times larger: the same predictions, said with near certainty
        head.weight.mul_(10)
        head.bias.mul_(10)
    val = load_data((x[1000:], y[1000:]))
    record = calibrate_run(run, val, torch.device("cpu"))
    assert record["ece_after"] < record["ece_before"] / 2 and run.temperature == record["temperature"] > 2
    scored = run.evaluate(val, device="cpu")
    assert scored["ece"] == pytest.approx(record["ece_after"], abs=1e-6)


def test_a_fit_records_its_calibration_and_predict_uses_it(tmp_path):
    # fp32: the float32 logits below are what predict computes (auto precision is bf16 on a CPU with AMX)
    run = autorecipe.fit("digits", overrides={**QUICK, "precision": "fp32"}, out=tmp_path / "run", device="cpu",
                         progress=False)
    saved = json.loads((run.path / "metrics.json").read_text())["calibration"]
    assert set(saved) >= {"temperature", "ece_before", "ece_after", "reliability_before", "reliability_after"}
    assert saved["ece_after"] <= saved["ece_before"] and saved["images"] == saved["images"] == 179
    inference = json.loads((run.path / "inference.json").read_text())
    assert inference["calibrated"] and inference["temperature"] == saved["temperature"]
    loaded = autorecipe.load(run.path)
    assert loaded.temperature == pytest.approx(saved["temperature"])
    images = load_data("digits").images()[:5].transpose(0, 2, 3, 1)
    predicted = loaded.predict(images, top_k=10)
    with torch.no_grad():
        logits = loaded.model.float()(torch.from_numpy(images.transpose(0, 3, 1, 2)).float() / 255).numpy()
    expected = probabilities(logits, saved["temperature"])
    for top, row in zip(predicted, expected):
        assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-5)
        for name, probability in top:
            assert probability == pytest.approx(row[loaded.classes.index(name)], abs=1e-3)


def test_without_validation_images_calibration_is_skipped_and_the_run_says_so(tmp_path, caplog):
    run = autorecipe.fit("digits", overrides=QUICK, out=tmp_path / "run", device="cpu", progress=False,
                         val_fraction=0)
    assert run.metrics["calibration"] == {"skipped": "no validation images"} and run.temperature is None
    assert "calibration skipped: no validation images" in (run.path / "run.log").read_text()
    assert not json.loads((run.path / "inference.json").read_text())["calibrated"]
    assert autorecipe.load(run.path).temperature is None
    assert not autorecipe.evaluate(run.path, "digits", device="cpu")["calibrated"]


def test_a_few_validation_images_skip_calibration_with_their_count(tmp_path):
    x, y = load_data("digits").images()[:300].transpose(0, 2, 3, 1), load_data("digits").y[:300]
    run = autorecipe.fit((x, y), overrides=QUICK, out=tmp_path / "run", device="cpu", progress=False)
    assert run.metrics["calibration"]["skipped"].startswith("validation holds 30 images, fewer than the 50")


def test_the_ece_is_the_weighted_gap_between_confidence_and_accuracy():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])  # the 0.9 bin: 50% right; the 0.6 bin: 100% right
    assert calibration(probs, labels).ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
