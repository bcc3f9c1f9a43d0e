"""diagnose: duplicates (exact, resized, re-encoded), probably wrong labels, the learning curve and its
verdict, the output files, checks only; the near-duplicate finder's banded comparison."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

import autorecipe
from autorecipe.cli import main
from autorecipe.data.duplicates import near_pairs
from autorecipe.diagnosing.learning_curve import learning_curve
from autorecipe.errors import AutorecipeError
from imagegen import scene

QUICK = {"width": 0.25, "epochs": 8}


def _scenes(root, classes=3, per_class=12, offset=0):
    """A folder of distinct scenes, `per_class` a class; returns the paths by class."""
    paths = {}
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        paths[c] = []
        for i in range(per_class):
            path = root / f"c{c}" / f"{i}.png"
            scene(offset + 1000 * c + i).save(path)
            paths[c].append(path)
    return paths


def test_the_banded_comparison_finds_every_pair_within_the_distance_as_all_pairs_would():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, size=400, dtype=np.uint64)
    for k in range(0, 60, 3):  # plant copies with 0..7 bits flipped
        flips = rng.choice(64, size=k % 8, replace=False)
        hashes[200 + k] = hashes[k] ^ np.uint64(sum(1 << int(b) for b in flips))
    i, j, d = near_pairs(hashes, 7)
    everything = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    expected = {(a, b) for a, b in zip(*np.nonzero(np.triu(everything <= 7, 1)))}
    assert {(a, b) for a, b in zip(i.tolist(), j.tolist())} == expected and len(expected) >= 20
    assert all(everything[a, b] == bits for a, b, bits in zip(i, j, d))
    with pytest.raises(ValueError, match="max_distance"):
        near_pairs(hashes, 9)


def test_planted_exact_resized_and_reencoded_duplicates_are_found_and_distinct_images_are_not(tmp_path):
    train, val = tmp_path / "train", tmp_path / "val"
    paths = _scenes(train)
    _scenes(val, per_class=4, offset=500)
    shutil.copy(paths[0][0], train / "c1" / "copy.png")  # the same image under another label
    scene(1).resize((40, 40)).save(train / "c0" / "resized.png")  # a resized copy of c0/1.png
    scene(1002).save(val / "c1" / "reencoded.jpg", quality=50)  # a training image, re-encoded, in validation
    found = autorecipe.diagnose(train, val=val, checks_only=True, overrides={"image_size": 32},
                                out=tmp_path / "out")
    kinds = {frozenset("/".join(p[side].split("/")[-2:]) for side in ("image_a", "image_b")): p
             for p in found.duplicates}
    assert len(found.duplicates) == 3, found.duplicates  # nothing among the 48 distinct scenes
    exact = kinds[frozenset(("c0/0.png", "c1/copy.png"))]
    assert exact["kind"] == "exact" and exact["conflict"] and exact["distance"] == 0
    assert kinds[frozenset(("c0/1.png", "c0/resized.png"))]["kind"] == "near"
    leak = kinds[frozenset(("c1/2.png", "c1/reencoded.jpg"))]
    assert {leak["set_a"], leak["set_b"]} == {"train", "validation"} and not leak["conflict"]
    needs = [n["need"] for n in found.needs]
    assert needs[:2] == ["cleaner_labels", "fewer_duplicates"]
    with (tmp_path / "out" / "duplicates.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and str(train / "c1" / "copy.png") in {r["image_a"] for r in rows} | {r["image_b"] for r in rows}
    summary = json.loads((tmp_path / "out" / "diagnose.json").read_text())
    assert summary["duplicates"]["conflicting_labels"] == 1 and summary["label_issues"] is None
    assert summary["sets"]["train"]["modes"] == {"RGB": 38} and summary["sets"]["train"]["distinct_sizes"] == 2
    assert not (tmp_path / "out" / "label_issues.csv").exists()  # checks only: nothing trained


def test_flipped_labels_are_ranked_near_the_top_and_fit_drops_or_down_weights_them(tmp_path):
    from sklearn.datasets import load_digits
    digits = load_digits()
    x, y = (digits.images[:600] * (255 / 16)).round().astype(np.uint8), digits.target[:600].copy()
    flipped = np.random.default_rng(0).choice(600, size=30, replace=False)
    y[flipped] = (y[flipped] + 1 + np.random.default_rng(1).integers(0, 9, 30)) % 10
    found = autorecipe.diagnose((x, y), val_fraction=0.15, overrides=QUICK, out=tmp_path / "d", seed=0)
    ranked = [int(row["image"].split("[")[1].rstrip("]")) for row in found.label_issues]
    top = set(ranked[:30])
    assert len(top & set(flipped.tolist())) >= 20, (len(found.label_issues), len(top & set(flipped.tolist())))
    assert found.needs[0]["need"] == "cleaner_labels"
    assert [f["name"] for f in found.fits][:4] == [f"fold {k}/4" for k in range(1, 5)] and len(found.fits) == 7
    assert found.verdict["kind"] in ("good_fit", "over_fitting", "under_fitting")
    run = autorecipe.fit((x, y), flagged=tmp_path / "d", overrides=QUICK, out=tmp_path / "dropped", progress=False)
    dropped = run.metrics["flagged_images"]  # the flagged images in this fit's training split
    assert 0.8 * len(found.label_issues) <= dropped <= len(found.label_issues) and run.metrics["num_train"] == 540 - dropped
    weighted = autorecipe.fit((x, y), flagged=tmp_path / "d" / "label_issues.csv", flagged_action="downweight",
                              overrides=QUICK, out=tmp_path / "weighted", progress=False)
    assert weighted.metrics["num_train"] == 540 and weighted.metrics["flagged_action"] == "downweight"
    with pytest.raises(AutorecipeError, match="flagged_action 'keep'"):
        autorecipe.fit((x, y), flagged=tmp_path / "d", flagged_action="keep", overrides=QUICK, out=tmp_path / "bad",
                       progress=False)


def test_the_learning_curve_says_plateau_on_a_flat_curve_and_more_labels_on_a_rising_one():
    rng = np.random.default_rng(0)
    hard = rng.random(2000)  # how hard each validation image is: a larger model gets the easier ones
    flat = learning_curve([250, 500, 750, 1000], [(hard < 0.9).astype(float)] * 4)
    rising = learning_curve([250, 500, 750, 1000], [(hard < a).astype(float) for a in (0.5, 0.62, 0.68, 0.72)])
    assert flat.kind == "plateau" and flat.gain == pytest.approx(0.0, abs=1e-9) and "plateau" in flat.text
    assert rising.kind == "more_labels_help" and 0.04 < rising.gain < 0.12 and rising.interval[0] > 0.01
    assert rising.exponent > 0 and rising.sizes == [250, 500, 750, 1000]


def test_diagnose_on_data_made_to_plateau_and_on_data_made_not_to(tmp_path):
    from sklearn.datasets import load_digits
    digits = load_digits()
    x, y = (digits.images * (255 / 16)).round().astype(np.uint8), digits.target
    easy = np.where(y[:, None, None] % 2 == 0, 40, 215).astype(np.uint8) + np.zeros_like(x)  # two flat classes
    easy = np.clip(easy + np.random.default_rng(0).integers(0, 20, x.shape), 0, 255).astype(np.uint8)
    flat = autorecipe.diagnose((easy[:400], y[:400] % 2), val=(easy[1000:1300], y[1000:1300] % 2),
                               overrides=QUICK, out=tmp_path / "flat")
    assert flat.learning_curve["kind"] == "plateau", flat.learning_curve
    rising = autorecipe.diagnose((x[:120], y[:120]), val=(x[1000:1500], y[1000:1500]), overrides=QUICK,
                                 out=tmp_path / "rising")
    assert rising.learning_curve["kind"] == "more_labels_help", rising.learning_curve
    assert "more_labels" in [n["need"] for n in rising.needs]


def test_the_cli_prints_the_tables_and_the_budget_is_shared_and_checked(tmp_path, capsys):
    assert main(["diagnose", "digits", "--budget", "7 epochs", "--set", "width=0.125", "--out",
                 str(tmp_path / "d")]) == 0
    printed = capsys.readouterr()
    assert "7 fit(s) to run" in printed.err and "needs 1:" in printed.out and "fit verdict:" in printed.out
    summary = json.loads((tmp_path / "d" / "diagnose.json").read_text())
    assert [f["epochs"] for f in summary["fits"]] == [1] * 7  # 7 epochs shared by 7 fits
    assert set(summary) == {"autorecipe_version", "sets", "duplicates", "label_issues", "learning_curve",
                            "fit_verdict", "fits", "needs"}
    assert main(["diagnose", "digits", "--budget", "3 trials", "--out", str(tmp_path / "t")]) == 2
    assert "diagnose trains fits, not trials" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
    assert main(["diagnose", "digits", "--folds", "1", "--out", str(tmp_path / "f")]) == 2
    assert "--folds 1" in capsys.readouterr().err
