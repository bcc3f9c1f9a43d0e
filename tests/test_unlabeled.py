"""Unlabeled images: every kind of source, bad inputs, and the labelled, validation and test images left out."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from autorecipe.data.dataset import load_data
from autorecipe.data.duplicates import found_in, pixel_digests
from autorecipe.data.unlabeled import load_unlabeled
from autorecipe.errors import AutorecipeError
from imagegen import pattern


def _save(array: np.ndarray, path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return str(path)


def test_pixel_digests_find_the_same_image_in_another_set():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(5, 3, 8, 8), dtype=np.uint8)
    other = np.concatenate([x[[3]], rng.integers(0, 256, size=(2, 3, 8, 8), dtype=np.uint8), x[[1]]])
    assert found_in(pixel_digests(x), [pixel_digests(other)]).tolist() == [False, True, False, True, False]
    assert found_in(pixel_digests(x, np.array([1, 2])), [pixel_digests(other, np.array([3]))]).tolist() == [True, False]
    assert not found_in(pixel_digests(x), []).any()


def test_a_folder_at_any_depth_with_bad_files_skipped_and_counted(tmp_path):
    root = tmp_path / "more"
    for i in range(4):
        _save(pattern(i % 3, 16, seed=i), root / f"a{i}.png")
    _save(pattern(0, 16, seed=9), root / "cats" / "deep" / "b.png")  # a subfolder name is not a label
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (root / "notes.txt").write_text("not an image")
    data = load_unlabeled(root, 16, False)
    assert len(data) == 5 and data.images().shape == (5, 3, 16, 16)
    assert [file.endswith("broken.jpg") for file, _ in data.skipped] == [True]
    assert data.excluded == 0


def test_labelled_validation_and_test_images_are_left_out_and_counted(tmp_path):
    rng = np.random.default_rng(1)
    labelled = rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(12) % 2
    train = load_data((labelled[:8], labels[:8]), 16, "rgb")
    val = load_data((labelled[8:10], labels[8:10]), 16, "rgb")
    test = load_data((labelled[10:], labels[10:]), 16, "rgb")
    new = rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    folder = tmp_path / "pool"  # files and arrays compare by their decoded pixels
    for i, image in enumerate([labelled[2], labelled[9], new[0]]):
        _save(image, folder / f"{i}.png")
    data = load_unlabeled(folder, 16, False, exclude=[train, val, test])
    assert (len(data), data.excluded) == (1, 2)
    assert (data.images()[0] == new[0].transpose(2, 0, 1)).all()
    pool = np.concatenate([new, labelled[[0, 11]]])
    data = load_unlabeled(pool, 16, False, exclude=[train.subset(np.arange(1, 4)), test])  # image 0 not in use
    assert (len(data), data.excluded) == (4, 1)


def test_a_csv_of_paths_with_or_without_a_header(tmp_path):
    files = [_save(pattern(i, 16, seed=i), tmp_path / "img" / f"{i}.png") for i in range(3)]
    (tmp_path / "plain.csv").write_text("img/0.png\nimg/1.png\n\n" + files[2] + "\n")
    (tmp_path / "header.csv").write_text("path\nimg/0.png\n")
    assert len(load_unlabeled(tmp_path / "plain.csv", 16, False)) == 3
    assert len(load_unlabeled(tmp_path / "header.csv", 16, True)) == 1
    (tmp_path / "header.csv").write_text("\ufeffpath\nimg/0.png\n", encoding="utf-8")  # with a BOM
    assert len(load_unlabeled(tmp_path / "header.csv", 16, True)) == 1


def test_labels_in_an_unlabeled_source_are_an_error_unless_ignored(tmp_path):
    _save(pattern(0, 16), tmp_path / "img" / "0.png")
    (tmp_path / "labelled.csv").write_text("path,label\nimg/0.png,cat\n")
    (tmp_path / "two.csv").write_text("img/0.png,cat\n")
    x = np.zeros((2, 8, 8), np.uint8)
    np.savez(tmp_path / "xy.npz", x=x, y=np.array([0, 1]))
    for source in (tmp_path / "labelled.csv", tmp_path / "two.csv", tmp_path / "xy.npz", (x, np.array([0, 1]))):
        with pytest.raises(AutorecipeError, match="ignore-labels"):
            load_unlabeled(source, 8, True)
        assert len(load_unlabeled(source, 8, True, ignore_labels=True)) in (1, 2)


def test_an_npz_with_x_and_plain_arrays(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, size=(4, 10, 10), dtype=np.uint8)
    np.savez(tmp_path / "x.npz", x=x)
    assert load_unlabeled(tmp_path / "x.npz", 8, True).images().shape == (4, 1, 8, 8)
    assert load_unlabeled(x[..., None], 10, True).images().shape == (4, 1, 10, 10)


@pytest.mark.parametrize("make, message", [
    (lambda p: (p / "empty").mkdir() or p / "empty", "no image files"),
    (lambda p: (p / "e.csv").write_text("path\n") and p / "e.csv", "lists no images"),
    (lambda p: (p / "bad.csv").write_text(",x\n") and p / "bad.csv", "no path"),
    (lambda p: np.savez(p / "n.npz", images=np.zeros((1, 4, 4), np.uint8)) or p / "n.npz", "no array `x`"),
    (lambda p: np.zeros((0, 4, 4), np.uint8), "holds no images"),
    (lambda p: np.zeros((2, 4, 4), np.float32), "must be uint8"),
    (lambda p: np.zeros((2, 4, 4, 2), np.uint8), "shape"),
    (lambda p: p / "missing", "no such file"),
    (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "unsupported"),
    (lambda p: 42, "must be a folder"),
])
def test_bad_unlabeled_inputs_are_clear_errors(tmp_path, make, message):
    with pytest.raises(AutorecipeError, match=message):
        load_unlabeled(make(tmp_path), 8, True)


def test_a_source_of_only_broken_files_is_an_error(tmp_path):
    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / "a.png").write_bytes(b"not a png")
    with pytest.raises(AutorecipeError, match="none of its 1 image file"):
        load_unlabeled(tmp_path / "pool", 8, True)
