"""Untrusted text (class names, file names) is shown as it is: rich markup escaped and control characters made
visible, in the terminal and in run.log."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from autorecipe.cli import main
from autorecipe.terminal import safe, visible

NAMES = ("[/]bold", "red\x1b[31mtext\x1b[0m", "bell\x07[b]x[/b]")


@pytest.fixture
def hostile_folder(tmp_path):
    """Three classes whose folder names hold markup and terminal escape sequences, and a file name that does."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for label, name in enumerate(NAMES):
        folder = root / name.replace("/", "_")
        folder.mkdir(parents=True)
        for i in range(12):
            image = np.clip(rng.normal(60 + 60 * label, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(folder / (f"{i}\x1b[2J.png" if i == 0 else f"{i}.png"))
    return root


def test_visible_and_safe_leave_no_control_character_and_no_markup():
    assert visible("a\x1b[31mb\x9b\x7f\tc\nd") == "a\\x1b[31mb\\x9b\\x7f\tc\nd"
    assert safe("[/]x\x1b") == "\\[/]x\\x1b"


def test_fit_evaluate_and_predict_show_hostile_names_as_they_are(hostile_folder, tmp_path, capfd):
    out = tmp_path / "run"
    assert main(["fit", str(hostile_folder), "--epochs", "1", "--out", str(out), "--no-report"]) == 0
    assert main(["evaluate", str(out), str(hostile_folder)]) == 0
    assert main(["predict", str(out), str(hostile_folder), "--top-k", "3"]) == 0
    shown = capfd.readouterr()
    for stream in (shown.out, shown.err):
        assert "\x1b[31m" not in stream and "\x1b[2J" not in stream and "\x07" not in stream
    assert "\\x1b[31mtext" in shown.out and "[/]bold".replace("/", "_") in shown.out
    assert "\x1b" not in (out / "run.log").read_text()
    assert NAMES[1] in json.loads((out / "classes.json").read_text())  # the data itself is kept as it is
