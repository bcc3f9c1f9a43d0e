"""Data sources, mode conversion, corrupt files, the decode cache and the stratified split."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from autorecipe import AutorecipeError
from autorecipe.cli import main
from autorecipe.errors import AutorecipeWarning
from autorecipe.data import cache
from autorecipe.data.cache import decode_files
from autorecipe.data.dataset import check_trainable, load_data
from autorecipe.data.images import choose_size, to_array
from autorecipe.data.split import stratified_split

from hangs import within
from imagegen import pattern


def test_folder_decodes_every_mode_and_skips_the_corrupt_file(image_folder):
    data = load_data(image_folder, 16, "rgb")
    assert data.classes == ["cat", "dog", "fox"]
    assert len(data) == 18
    assert data.images().shape == (18, 3, 16, 16) and data.images().dtype == np.uint8
    assert [p.endswith("broken.jpg") for p, _ in data.skipped] == [True]
    assert np.bincount(data.y).tolist() == [6, 6, 6]
    # The label-dependent colour survives every conversion (red/green/blue channel dominant).
    means = data.images().reshape(18, 3, -1).mean(-1)
    colourful = np.ptp(means, axis=1) > 40
    dominant = means.argmax(1)
    assert (dominant[colourful] == data.y[colourful]).all()
    assert colourful.sum() >= 9  # grayscale, bilevel and 16-bit images carry no colour


def test_folder_in_gray_gives_one_channel(image_folder):
    data = load_data(image_folder, 12, "gray")
    assert data.images().shape == (18, 1, 12, 12)


def test_automatic_format_is_rgb_for_mixed_modes_and_gray_for_gray(tmp_path, image_folder):
    data = load_data(image_folder)
    assert (data.image_size, data.channels) == (20, 3)
    root = tmp_path / "gray"
    for c in "ab":
        (root / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((10, 14), 40 * i, np.uint8), "L").save(root / c / f"{i}.png")
    gray = load_data(root)
    assert (gray.image_size, gray.channels) == (10, 1)


def test_conversions_are_consistent():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red: white after compositing
    assert to_array(rgba, 4, gray=False).min() == 255
    sixteen = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    assert to_array(sixteen, 4, gray=True).min() == 255
    wide = Image.fromarray(np.zeros((10, 30, 3), np.uint8))
    assert to_array(wide, 8, gray=False).shape == (3, 8, 8)
    assert choose_size([32, 32, 32]) == 32
    assert choose_size([500, 500]) == 224
    assert choose_size([40, 100, 60]) == 60


def test_cache_is_reused_and_keyed_by_content(image_folder):
    first = load_data(image_folder, 16, "rgb")
    second = load_data(image_folder, 16, "rgb")
    assert not first.from_cache and second.from_cache
    assert np.array_equal(first.images(), second.images())
    assert second.skipped == first.skipped
    assert not load_data(image_folder, 12, "rgb").from_cache  # another size is another entry
    path = image_folder / "cat" / "0.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(path)
    changed = load_data(image_folder, 16, "rgb")
    assert not changed.from_cache
    assert changed.images()[0].max() == 0


def test_a_damaged_cache_entry_is_decoded_again(image_folder, isolated_cache, caplog):
    first = load_data(image_folder, 16, "rgb").images()  # a copy: the entry's memory map is cut short below
    (entry,) = (isolated_cache / "decoded").iterdir()
    with open(entry / "x.npy", "r+b") as f:  # cut short, as a full disk or a killed program leaves it
        f.truncate(100)
    again = load_data(image_folder, 16, "rgb")
    assert not again.from_cache and np.array_equal(again.images(), first)
    assert "damaged cache entry" in caplog.text
    (entry / "meta.json").write_text("{")
    assert np.array_equal(load_data(image_folder, 16, "rgb").images(), first)
    assert load_data(image_folder, 16, "rgb").from_cache  # healed


def test_a_full_disk_under_the_cache_is_a_one_line_error(image_folder, isolated_cache, monkeypatch):
    import errno
    import sqlite3

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(AutorecipeError, match=r"decode cache .* is full or cannot be written \(No space left"):
        load_data(image_folder, 16, "rgb")
    assert [p.name for p in (isolated_cache / "decoded").iterdir()] == []  # nothing half-written left
    monkeypatch.setattr(cache, "content_digests", lambda *a: (_ for _ in ()).throw(
        sqlite3.OperationalError("database or disk is full")))
    with pytest.raises(AutorecipeError, match="cannot be used \\(database or disk is full\\)"):
        load_data(image_folder, 16, "rgb")


def test_parallel_decode_gives_the_serial_arrays(tmp_path, monkeypatch):
    paths = []
    for i in range(200):
        Image.fromarray(pattern(i % 3, 12, seed=i)).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    (tmp_path / "bad.png").write_bytes(b"garbage")
    paths.insert(130, str(tmp_path / "bad.png"))  # in the third of four chunks
    monkeypatch.setenv("AUTORECIPE_CACHE", str(tmp_path / "serial-cache"))
    serial, serial_failures, _ = decode_files(paths, 10, False, workers=1)
    pools, progress = [], []

    class RecordingPool(cache.ThreadPoolExecutor):
        def __init__(self, workers, **options):
            pools.append(workers)
            super().__init__(workers, **options)

    monkeypatch.setattr(cache, "SERIAL_BELOW", 0)
    monkeypatch.setattr(cache, "ThreadPoolExecutor", RecordingPool)
    monkeypatch.setenv("AUTORECIPE_CACHE", str(tmp_path / "parallel-cache"))  # no reuse of the serial result
    parallel, failures, from_cache = decode_files(paths, 10, False, workers=2,
                                                  on_progress=lambda done, total: progress.append((done, total)))
    assert pools == [2] and not from_cache
    assert list(failures) == list(serial_failures) == [130]
    assert failures[130].startswith("UnidentifiedImageError")
    np.testing.assert_array_equal(parallel, serial)
    assert parallel[:130].reshape(130, 3, -1).mean(-1).argmax(1).tolist() == [i % 3 for i in range(130)]
    assert sorted(progress)[-1] == (201, 201) and len(progress) == 4


def test_parallel_decoding_works_from_a_script_without_a_main_guard(image_folder, tmp_path):
    script = tmp_path / "plain.py"  # no `if __name__ == "__main__":`, as users write scripts
    script.write_text("import autorecipe.data.cache as cache\n"
                      "from autorecipe.data.dataset import load_data\n"
                      "cache.SERIAL_BELOW = 0\n"
                      f"print(len(load_data({str(image_folder)!r}, 16, 'rgb', use_cache=False)))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "AUTORECIPE_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 0


def test_gif_uses_its_first_frame_and_webp_decodes(tmp_path):
    root = tmp_path / "images"
    (root / "gif").mkdir(parents=True)
    (root / "webp").mkdir()
    frames = [Image.new("RGB", (6, 6), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    frames[0].save(root / "gif" / "moving.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(root / "gif" / "moving.gif") as gif:
        assert gif.n_frames == 3
    webp = pattern(1, 6)
    Image.fromarray(webp).save(root / "webp" / "still.webp", lossless=True)
    data = load_data(root, 6, "rgb")
    assert data.classes == ["gif", "webp"] and not data.skipped
    gif_pixels, webp_pixels = data.images()
    assert gif_pixels[:, 0, 0].tolist() == [255, 0, 0]
    assert (gif_pixels[0] == 255).all() and (gif_pixels[1:] == 0).all()
    np.testing.assert_array_equal(webp_pixels, webp.transpose(2, 0, 1))


def test_csv_manifest_with_relative_paths(image_folder):
    manifest = image_folder.parent / "list.csv"
    rows = ["path,label"] + [f"images/{c}/{i}.png,{c}" for c in ("cat", "fox") for i in range(6)
                             if (image_folder / c / f"{i}.png").exists()]
    rows.append("images/dog/broken.jpg,dog")
    manifest.write_text("\n".join(rows) + "\n")
    with pytest.raises(AutorecipeError, match="list.csv: class 'dog' has no readable images"):
        load_data(manifest, 16, "rgb")
    rows.append(f"{next((image_folder / 'dog').glob('*.png')).relative_to(image_folder.parent)},dog")
    manifest.write_text("\n".join(rows) + "\n")
    data = load_data(manifest, 16, "rgb")
    assert data.classes == ["cat", "dog", "fox"]
    assert len(data) == len(rows) - 2 and np.bincount(data.y)[1] == 1
    assert len(data.skipped) == 1
    manifest.write_bytes(b"\xef\xbb\xbf" + manifest.read_bytes())  # Excel's "CSV UTF-8" starts with a BOM
    assert load_data(manifest, 16, "rgb").classes == data.classes and len(load_data(manifest, 16, "rgb")) == len(data)


def test_a_fifo_in_a_manifest_is_skipped_not_waited_on(image_folder):
    manifest = image_folder.parent / "fifo.csv"
    files = [f for c in ("cat", "fox") for f in sorted((image_folder / c).glob("*.png"))]
    os.mkfifo(image_folder / "cat" / "pipe.png")
    manifest.write_text("".join(f"{f},{f.parent.name}\n" for f in files) + f"{image_folder / 'cat' / 'pipe.png'},cat\n")

    with within(60, "decoding a manifest that lists a FIFO"):
        data = load_data(manifest)  # the automatic size reads every header first
    assert len(data) == len(files) and [p for p, _ in data.skipped] == [str(image_folder / "cat" / "pipe.png")]
    assert "not a regular file" in data.skipped[0][1]


def test_files_that_cannot_be_decoded_have_no_say_in_the_automatic_size(tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(pattern(i, 16)).save(tmp_path / label / f"{i}.png")
        for i in range(4):  # a readable header of a 200 px image, then nothing
            Image.fromarray(pattern(i, 200)).save(tmp_path / label / f"big{i}.png")
            data = (tmp_path / label / f"big{i}.png").read_bytes()
            (tmp_path / label / f"big{i}.png").write_bytes(data[:200])
    data = load_data(tmp_path)
    assert data.image_size == 16 and len(data) == 6 and len(data.skipped) == 8


def test_csv_manifest_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.png,cat\nonly-one-column\n")
    with pytest.raises(AutorecipeError, match=r"bad.csv, line 3: expected two columns"):
        load_data(bad, 8, "rgb")
    empty = tmp_path / "empty.csv"
    empty.write_text("path,label\n")
    with pytest.raises(AutorecipeError, match="lists no images"):
        load_data(empty, 8, "rgb")


def test_npz_arrays_in_every_layout(tmp_path):
    x = np.stack([pattern(i % 2, 12, seed=i) for i in range(8)])
    y = np.array([i % 2 for i in range(8)])
    np.savez(tmp_path / "rgb.npz", x=x, y=y)
    data = load_data(tmp_path / "rgb.npz")
    assert data.images().shape == (8, 3, 12, 12) and data.classes == ["0", "1"]
    np.testing.assert_array_equal(data.images()[3], x[3].transpose(2, 0, 1))
    np.savez(tmp_path / "gray.npz", x=x[..., 0], y=np.array(["a", "b"] * 4))
    gray = load_data(tmp_path / "gray.npz")
    assert gray.images().shape == (8, 1, 12, 12) and gray.classes == ["a", "b"]
    np.savez(tmp_path / "named.npz", x=x, y=y, classes=np.array(["cat", "dog"]))
    assert load_data(tmp_path / "named.npz", 16, "gray").images().shape == (8, 1, 16, 16)
    assert load_data(tmp_path / "named.npz").classes == ["cat", "dog"]


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 8, 8), np.float32), "y": np.zeros(4)}, "x must be uint8"),
    ({"x": np.zeros((4, 8), np.uint8), "y": np.zeros(4)}, "x must have shape"),
    ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(3)}, "one label per image"),
    ({"x": np.zeros((4, 8, 8), np.uint8)}, "missing array"),
    ({"x": np.zeros((4, 3, 32, 3), np.uint8), "y": np.zeros(4)}, r"looks channels-first.*transpose\(0, 2, 3, 1\)"),
    ({"x": np.zeros((4, 1, 28, 28), np.uint8), "y": np.zeros(4)}, "looks channels-first"),
])
def test_npz_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(AutorecipeError, match=message):
        load_data(tmp_path / "a.npz")


def test_a_file_that_is_not_a_zip_is_named_so(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"\x93NUMPY not a zip")
    with pytest.raises(AutorecipeError, match=r"a.npz: not an .npz archive.*np.savez"):
        load_data(tmp_path / "a.npz")


def test_repeated_manifest_rows_are_dropped_and_a_file_under_two_labels_is_an_error(image_folder):
    manifest = image_folder.parent / "rows.csv"
    files = sorted((image_folder / "cat").glob("*.png")) + sorted((image_folder / "fox").glob("*.png"))
    rows = [f"{f},{f.parent.name}" for f in files]
    manifest.write_text("\n".join(rows + rows[:3] + [f"images/cat/../cat/{files[0].name},cat"]) + "\n")
    with pytest.warns(AutorecipeWarning, match=r"4 row\(s\) repeat an earlier row and were dropped \(e.g. line "):
        data = load_data(manifest, 16, "rgb")
    assert len(data) == len(files)
    manifest.write_text("\n".join(rows + [f"{files[1]},fox"]) + "\n")
    with pytest.raises(AutorecipeError, match=rf"lines 2 and {len(rows) + 1}: .*1.png is listed as 'cat' and as 'fox'"):
        load_data(manifest, 16, "rgb")


def test_the_data_root_confines_a_manifests_paths(image_folder, tmp_path, monkeypatch, capsys):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    Image.fromarray(pattern(0, 16)).save(outside / "x.png")
    (image_folder / "cat" / "link.png").symlink_to(outside / "x.png")
    inside = [f"{f},{f.parent.name}" for c in ("cat", "fox") for f in sorted((image_folder / c).glob("[0-9].png"))]
    link = image_folder / "cat" / "link.png"
    for bad in (f"{outside / 'x.png'},cat", "images/../elsewhere/x.png,cat", f"{link},cat"):
        manifest = image_folder.parent / "list.csv"
        manifest.write_text("\n".join(inside + [bad]) + "\n")
        assert load_data(manifest, 16, "rgb")  # by default any path is allowed
        monkeypatch.setenv("AUTORECIPE_DATA_ROOT", str(image_folder))
        with pytest.raises(AutorecipeError, match=f"lies outside the data root {image_folder}"):
            load_data(manifest, 16, "rgb")
        monkeypatch.delenv("AUTORECIPE_DATA_ROOT")
    assert main(["--data-root", str(image_folder), "fit", str(manifest), "--epochs", "1"]) == 2
    assert "lies outside the data root" in capsys.readouterr().err
    assert "AUTORECIPE_DATA_ROOT" not in os.environ  # main() leaves the environment as it was
    assert main(["--data-root", str(tmp_path / "none"), "fit", str(manifest)]) == 2


def test_an_image_over_the_pixel_limit_is_skipped_with_why(image_folder, monkeypatch):
    Image.fromarray(pattern(0, 64)).save(image_folder / "cat" / "large.png")
    monkeypatch.setenv("AUTORECIPE_MAX_PIXELS", "1000")
    data = load_data(image_folder, 16, "rgb")
    reasons = dict(data.skipped)
    assert "4,096 pixels, over the limit of 1,000" in reasons[str(image_folder / "cat" / "large.png")]
    assert "--max-pixels" in reasons[str(image_folder / "cat" / "large.png")]
    monkeypatch.setenv("AUTORECIPE_MAX_PIXELS", "3000")  # between the limit and twice it: autorecipe's own check
    reasons = dict(load_data(image_folder, 16, "rgb").skipped)
    assert "64 x 64 = 4,096 pixels, over the limit of 3,000" in reasons[str(image_folder / "cat" / "large.png")]


def test_builtin_digits_and_arrays():
    digits = load_data("digits")
    assert len(digits) == 1797 and digits.classes == [str(i) for i in range(10)]
    assert digits.images().shape == (1797, 1, 8, 8) and digits.images().max() == 255
    x = np.zeros((6, 9, 9, 3), np.uint8)
    assert load_data((x, np.array([0, 1, 2] * 2))).images().shape == (6, 3, 9, 9)


def test_unusable_sources_are_clear_errors(tmp_path):
    with pytest.raises(AutorecipeError, match="no such file or folder"):
        load_data(tmp_path / "nothing")
    (tmp_path / "flat").mkdir()
    with pytest.raises(AutorecipeError, match="no class subfolders"):
        load_data(tmp_path / "flat")
    (tmp_path / "flat" / "a").mkdir()
    (tmp_path / "flat" / "b").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "a" / "x.png")
    with pytest.raises(AutorecipeError, match=r"class 'b' is empty"):
        load_data(tmp_path / "flat")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(AutorecipeError, match="unsupported data file"):
        load_data(tmp_path / "notes.txt")


def test_training_needs_two_classes_with_readable_images(tmp_path):
    root = tmp_path / "one"
    (root / "only").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "only" / "x.png")
    with pytest.raises(AutorecipeError, match="found 1 class; training needs at least two"):
        check_trainable(load_data(root))
    (root / "broken").mkdir()
    (root / "broken" / "y.png").write_bytes(b"garbage")
    with pytest.raises(AutorecipeError, match="class 'broken' has no readable images"):
        load_data(root)


def test_a_class_of_only_corrupt_files_is_an_error_that_names_it(tmp_path):
    root = tmp_path / "images"
    for label, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(pattern(label, 8, seed=i)).save(root / name / f"{i}.png")
    (root / "owl").mkdir()
    for i in range(3):
        (root / "owl" / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(AutorecipeError, match=r"image folder .*: class 'owl' has no readable images: "
                                              r"all 3 of its file\(s\) failed to decode, e.g. .*owl.0\.jpg"):
        load_data(root, 8, "rgb")
    (root / "owl" / "1.jpg").unlink()
    Image.fromarray(pattern(2, 8)).save(root / "owl" / "1.png")
    data = load_data(root, 8, "rgb")  # one readable owl is enough; the corrupt ones are skipped
    assert data.classes == ["cat", "dog", "owl"] and np.bincount(data.y).tolist() == [3, 3, 1]
    assert len(data.skipped) == 2


def test_stratified_split_is_seeded_and_keeps_class_shares():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 2 + [3])
    train, val = stratified_split(labels, 0.2, seed=1)
    assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == len(labels)
    assert np.bincount(labels[val], minlength=4).tolist() == [10, 6, 1, 0]
    again, _ = stratified_split(labels, 0.2, seed=1)
    other, _ = stratified_split(labels, 0.2, seed=2)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    with pytest.raises(AutorecipeError, match="between 0 and 1"):
        stratified_split(labels, 1.5, seed=0)


def test_relabelling_to_a_models_classes(image_folder):
    data = load_data(image_folder, 8, "rgb")
    mapped = data.with_classes(["fox", "dog", "cat", "owl"])
    assert mapped.classes[mapped.y[0]] == data.classes[data.y[0]]
    with pytest.raises(AutorecipeError, match="'fox'.* not among the model's classes"):
        data.with_classes(["cat", "dog"])
