"""Prediction over many images: folders at any depth, CSVs and .npz files, in chunks; unreadable files are rows
with their reason, never a crash; the CSV is written whole or not at all. evaluate's top-k accuracy."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

import autorecipe
from autorecipe import AutorecipeError, predicting
from autorecipe.cli import main
from autorecipe.data.dataset import load_data
from hangs import within


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "run"
    return autorecipe.fit("digits", overrides={"width": 0.25, "epochs": 3}, out=out, device="cpu", progress=False)


@pytest.fixture
def sources(tmp_path):
    """A folder (with a subfolder, a broken file, a hidden file and a text file), a CSV naming three images (one
    missing, with a label column) and an .npz of four images."""
    images = load_data("digits").images()[:, 0]
    folder = tmp_path / "photos"
    (folder / "sub" / "deeper").mkdir(parents=True)
    names = ["a.png", "sub/b.png", "sub/deeper/c.jpg", "d.bmp", "sub/e.png"]
    for i, name in enumerate(names):
        Image.fromarray(images[i]).resize((16, 16)).save(folder / name)
    (folder / "sub" / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / ".hidden.png").write_bytes(b"hidden")
    (folder / "notes.txt").write_text("not an image")
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label\nphotos/a.png,0\nphotos/missing.png,1\nphotos/sub/b.png,1\n")
    np.savez(tmp_path / "batch.npz", x=images[10:14], y=np.arange(4))
    return folder, manifest, tmp_path / "batch.npz"


def test_folders_csvs_and_npz_files_are_predicted_in_order_with_unreadable_files_listed(run, sources):
    folder, manifest, npz = sources
    seen = []
    rows = list(autorecipe.predict_source(run, [folder, manifest, npz], top_k=3,
                                          on_progress=lambda done, total: seen.append((done, total))))
    names = [r.image for r in rows]
    assert names[:6] == sorted(str(p) for p in folder.rglob("*") if p.suffix in (".png", ".jpg", ".bmp")
                               and not p.name.startswith("."))
    assert names[6:9] == [str(manifest.parent / p) for p in ("photos/a.png", "photos/missing.png", "photos/sub/b.png")]
    assert names[9:] == [f"{npz}[{i}]" for i in range(4)] and seen[-1] == (13, 13)
    errors = {r.image: r.error for r in rows if r.error}
    assert set(errors) == {str(folder / "sub" / "broken.png"), str(manifest.parent / "photos" / "missing.png")}
    assert "No such file" in errors[str(manifest.parent / "photos" / "missing.png")]
    readable = [r for r in rows if not r.error]
    assert all(len(r.top) == 3 and r.top[0][1] >= r.top[1][1] >= r.top[2][1] for r in readable)
    files = [r.image for r in readable if not r.image.startswith(str(npz))]
    assert [r.top for r in readable if r.image in files] == run.predict(files, top_k=3)


def test_chunks_and_decoding_slices_do_not_change_the_results(run, sources, monkeypatch):
    whole = list(autorecipe.predict_source(run, sources, top_k=2))
    monkeypatch.setattr(predicting, "CHUNK", 4)
    monkeypatch.setattr(predicting, "DECODE_SLICE", 3)
    chunked = list(autorecipe.predict_source(run, sources, top_k=2, batch_size=3))
    assert [(r.image, [c for c, _ in r.top], r.error) for r in chunked] == \
        [(r.image, [c for c, _ in r.top], r.error) for r in whole]
    assert np.allclose([p for r in chunked for _, p in r.top], [p for r in whole for _, p in r.top], atol=1e-6)


def test_predict_writes_a_csv_with_top_k_columns_and_an_error_column(run, sources, tmp_path, capsys):
    folder, manifest, npz = sources
    out = tmp_path / "out" / "predictions.csv"
    assert main(["predict", str(run.path), str(folder), str(npz), "--out", str(out), "--top-k", "2", "--quiet"]) == 0
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["image", "class", "probability", "class_2", "probability_2", "error"]
    assert len(rows) == 10 and sum(bool(r["error"]) for r in rows) == 1
    assert all(float(r["probability"]) >= float(r["probability_2"]) for r in rows if not r["error"])
    assert "predicted 9 of 10 images, 1 unreadable" in capsys.readouterr().err
    assert [p.name for p in out.parent.iterdir()] == ["predictions.csv"]


def test_predict_shows_a_table_or_json_without_out(run, sources, capsys):
    folder, _, _ = sources
    assert main(["predict", str(run.path), str(folder), "--json", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed) == 6 and sum("error" in row for row in printed) == 1
    assert main(["predict", str(run.path), str(folder / "a.png"), str(folder / "sub" / "broken.png")]) == 0
    shown = capsys.readouterr().out
    assert "unreadable" in shown and "a.png" in shown


def test_a_failure_mid_way_leaves_no_csv(run, sources, tmp_path, monkeypatch):
    monkeypatch.setattr(predicting, "CHUNK", 2)
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return original(*args)
    original = predicting._top
    monkeypatch.setattr(predicting, "_top", failing)
    out = tmp_path / "p.csv"
    with pytest.raises(KeyboardInterrupt):
        predicting.write_predictions(autorecipe.predict_source(run, sources), out, 1)
    assert list(tmp_path.glob("*p.csv*")) == []


def test_bad_prediction_requests_are_clear_errors(run, sources, tmp_path, capsys):
    folder, _, _ = sources
    for kwargs, message in (({"top_k": 0}, "--top-k 0: must be at least 1"),
                            ({"batch_size": 0}, "--batch-size 0: must be at least 1"),
                            ({"tta": "rotate"}, "tta: 'rotate' is not valid")):
        with pytest.raises(AutorecipeError, match=message):
            autorecipe.predict_source(run, folder, **kwargs)
    with pytest.raises(AutorecipeError, match="nowhere: no such file or folder to predict"):
        autorecipe.predict_source(run, "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AutorecipeError, match="no image files"):
        autorecipe.predict_source(run, tmp_path / "empty")
    with pytest.raises(AutorecipeError, match="is a folder; give the CSV file"):
        predicting.write_predictions(iter(()), tmp_path, 1)
    weights = (run.path / "model.safetensors").read_bytes()
    for taken in (run.path / "model.safetensors", next(folder.rglob("*.png"))):  # never over another file
        with pytest.raises(AutorecipeError, match="not an earlier predictions CSV is there; give a new file name"):
            predicting.write_predictions(autorecipe.predict_source(run, folder), taken, 1)
    assert (run.path / "model.safetensors").read_bytes() == weights
    for _ in range(2):  # over its own CSV, again and again
        predicting.write_predictions(autorecipe.predict_source(run, folder), tmp_path / "p.csv", 1)
    assert main(["predict", str(run.path), str(tmp_path / "nowhere.png")]) == 2
    assert "no such file or folder to predict" in capsys.readouterr().err


def test_test_time_augmentation_can_be_chosen_at_prediction(run, sources):
    folder, _, _ = sources
    plain = list(autorecipe.predict_source(run, folder, top_k=10))
    flipped = list(autorecipe.predict_source(run, folder, top_k=10, tta="flip"))
    assert [r.image for r in plain] == [r.image for r in flipped]
    assert any(a.top != b.top for a, b in zip(plain, flipped) if not a.error)


def test_evaluate_gives_top_k_accuracy_and_the_balanced_metrics(run, capsys):
    scored = autorecipe.evaluate(run.path, "digits", device="cpu", top_k=3)
    assert scored["top_k"] == 3 and 1 >= scored["top_k_accuracy"] >= scored["accuracy"]
    assert autorecipe.evaluate(run.path, "digits", device="cpu", top_k=50)["top_k_accuracy"] == 1.0
    assert 0 <= scored["ece"] < 0.2 and scored["calibrated"]
    assert main(["evaluate", str(run.path), "digits", "--top-k", "2"]) == 0
    shown = capsys.readouterr().out
    assert "top-2 accuracy" in shown and "balanced accuracy" in shown and "macro-F1" in shown


def test_a_fifo_among_the_images_is_a_row_not_a_hang(run, sources, tmp_path):
    import os
    folder, _, _ = sources
    os.mkfifo(tmp_path / "pipe.png")
    manifest = tmp_path / "with_fifo.csv"
    manifest.write_text(f"{folder / 'a.png'}\n{tmp_path / 'pipe.png'}\n{folder}\n")
    with within(60, "predicting a CSV that lists a FIFO"):
        rows = list(autorecipe.predict_source(run, manifest))
    assert [bool(r.error) for r in rows] == [False, True, True]
    assert "not a regular file" in rows[1].error and "not a regular file" in rows[2].error
