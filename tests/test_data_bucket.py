"""The data bucket: imbalanced classes (weights, sampling, warnings, balanced metrics) and duplicate checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_recall_fscore_support

import autorecipe
from autorecipe.data.balance import class_weights, imbalance_ratio, resolve_balance, sampling_weights
from autorecipe.data.dataset import load_data
from autorecipe.data.loader import BatchLoader
from autorecipe.errors import AutorecipeError, AutorecipeWarning
from autorecipe.recipe import Recipe
from autorecipe.training.scoring import balanced_scores, confusion_matrix, resolve_metric
from autorecipe.training.setup import build_setup


def _blobs(rng, n, label):
    """Noisy 16 px images whose red centre is a little brighter (class 1) or darker (class 0)."""
    x = rng.normal(110, 40, (n, 16, 16, 3))
    x[:, 4:12, 4:12, 0] += 25 if label else -25
    return np.clip(x, 0, 255).astype(np.uint8)


def _skewed(rng, majority=50, minority=3):
    x = np.concatenate([_blobs(rng, majority, 0), _blobs(rng, minority, 1)])
    return x, np.array([0] * majority + [1] * minority)


def test_class_weights_follow_inverse_frequency_and_the_effective_number():
    counts = np.array([90, 10])
    inverse = class_weights("inverse_frequency", counts, 0.999)
    assert inverse[1] / inverse[0] == pytest.approx(9.0)
    assert (inverse * counts).sum() == pytest.approx(counts.sum())  # mean weight over the images is 1
    beta = 0.9
    effective = class_weights("effective_number", counts, beta)
    expected = (1 - beta ** 90) / (1 - beta ** 10)  # the ratio of the effective numbers, Cui et al. (2019)
    assert effective[1] / effective[0] == pytest.approx(expected)
    assert 1 < effective[1] / effective[0] < 9  # softer than inverse frequency
    assert class_weights("none", counts, beta) is None and class_weights("balanced_sampling", counts, beta) is None


def test_auto_balances_only_imbalanced_classes():
    section = Recipe.coerce(None).data
    assert section.class_balance == "auto"
    assert imbalance_ratio(np.array([50, 3])) == pytest.approx(50 / 3)
    assert resolve_balance(section, np.array([50, 3])) == "effective_number"
    assert resolve_balance(section, np.array([50, 40])) == "none"
    assert resolve_metric("auto", np.array([50, 3])) == "balanced_accuracy"
    assert resolve_metric("auto", np.array([50, 40])) == "accuracy"
    with pytest.raises(AutorecipeError, match="'f2'.*balanced_accuracy"):
        resolve_metric("f2", np.array([1, 1]))
    with pytest.raises(AutorecipeError, match="class_balance"):
        Recipe.coerce(None, ["class_balance=oversample"])


def test_the_knobs_change_the_loss_or_the_sampling_as_declared():
    x, y = _skewed(np.random.default_rng(0), 60, 6)
    data = load_data((x, y))
    setups = {mode: build_setup(Recipe.coerce(None, [f"class_balance={mode}"]), data, torch.device("cpu"))
              for mode in ("none", "inverse_frequency", "balanced_sampling")}
    assert setups["none"].class_weights is None and setups["none"].sampling_weights is None
    assert setups["inverse_frequency"].class_weights.tolist() == pytest.approx(
        class_weights("inverse_frequency", np.array([60, 6]), 0.999).tolist())
    logits, targets = torch.tensor([[2.0, 0.0], [2.0, 0.0]]), torch.tensor([0, 1])
    from autorecipe.regularization.loss import training_loss
    reg = setups["none"].recipe.regularization
    plain = training_loss(reg, logits, targets)
    weighted = training_loss(reg, logits, targets, setups["inverse_frequency"].class_weights)
    assert weighted > plain  # the minority image's larger loss counts ten times as much
    drawn = np.concatenate([b[1].numpy() for _ in range(20) for b in BatchLoader(
        data, torch.device("cpu"), 33, shuffle=True, weights=setups["balanced_sampling"].sampling_weights)])
    assert len(drawn) == 20 * len(data)  # an epoch draws as many images as the data holds
    assert 0.4 < drawn.mean() < 0.6  # both classes alike, where plain shuffling gives the minority 9%
    assert sampling_weights("none", y, 2) is None


def test_balanced_accuracy_and_macro_f1_match_scikit_learn():
    rng = np.random.default_rng(1)
    labels = rng.choice(4, 200, p=[0.6, 0.3, 0.1, 0.0])  # class 3 never occurs
    predictions = np.where(rng.random(200) < 0.7, labels, rng.integers(0, 4, 200))  # but is predicted
    scores = balanced_scores(confusion_matrix(predictions, labels, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about the class that is only predicted
        assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predictions))
    assert scores["macro_f1"] == pytest.approx(f1_score(labels, predictions, average="macro"))
    precision, recall, _, support = precision_recall_fscore_support(labels, predictions, labels=range(4),
                                                                    zero_division=0)
    from autorecipe.training.scoring import per_class_scores
    per = per_class_scores(confusion_matrix(predictions, labels, 4))
    assert per["precision"] == pytest.approx(precision) and per["recall"] == pytest.approx(recall)
    assert per["support"].tolist() == support.tolist()


def test_a_50_to_3_task_warns_and_auto_recalls_the_minority_better(tmp_path):
    rng = np.random.default_rng(0)
    x, y = _skewed(rng)
    val = (np.concatenate([_blobs(rng, 20, 0), _blobs(rng, 20, 1)]), np.array([0] * 20 + [1] * 20))
    held_out = (_blobs(rng, 30, 1), np.ones(30, dtype=np.int64))  # minority images no fit has seen
    recall = {}
    for mode in ("none", "auto"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = autorecipe.fit((x, y), val=val, epochs=8, progress=False, out=tmp_path / mode, device="cpu",
                                 overrides=[f"class_balance={mode}"])
        texts = [str(w.message) for w in caught if issubclass(w.category, AutorecipeWarning)]
        assert any("fewer than 10 training images: '1' (3)" in t for t in texts)
        assert any("imbalanced classes: '0' has 50 training images, '1' 3" in t for t in texts)
        recall[mode] = run.evaluate(held_out)["per_class"]["1"]["recall"]
        assert run.metrics["metric"] == "balanced_accuracy"
        assert set(run.metrics["val_per_class"]) == {"0", "1"}
    assert run.recipe.data.class_balance == "effective_number"  # auto, resolved and saved
    assert recall["auto"] > recall["none"] + 0.3


def test_evaluate_and_metrics_carry_the_balanced_scores(tmp_path):
    x, y = _skewed(np.random.default_rng(2), 40, 20)
    run = autorecipe.fit((x, y), epochs=1, progress=False, out=tmp_path / "run", device="cpu", metric="macro_f1")
    for key in ("val_balanced_accuracy", "val_macro_f1", "val_per_class"):
        assert run.metrics[key] is not None
    assert run.metrics["metric"] == "macro_f1"
    assert "val_balanced_accuracy" in run.history[0] and "val_macro_f1" in run.history[0]
    result = autorecipe.evaluate(run, (x, y))
    confusion = np.array(result["confusion"])
    assert result["balanced_accuracy"] == pytest.approx(np.mean(np.diag(confusion) / confusion.sum(1)))
    assert result["per_class"]["1"]["support"] == 20
    with pytest.raises(AutorecipeError, match="metric 'top5'"):
        autorecipe.fit((x, y), epochs=1, progress=False, out=tmp_path / "bad", device="cpu", metric="top5")


def _folder(root, images: dict[str, list[np.ndarray]]):
    for label, arrays in images.items():
        (root / label).mkdir(parents=True)
        for i, array in enumerate(arrays):
            Image.fromarray(array).save(root / label / f"{i}.png")
    return root


def test_identical_images_under_two_labels_and_validation_leaks_are_warned_about(tmp_path):
    rng = np.random.default_rng(3)
    distinct = {c: [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(12)] for c in "ab"}
    same = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    clean, val = _folder(tmp_path / "clean", distinct), _folder(tmp_path / "val", {
        "a": [distinct["a"][0], rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)], "b": [distinct["b"][1]]})
    conflicted = _folder(tmp_path / "conflicted", {c: distinct[c] + [same] * 10 for c in "ab"})

    def warned(data, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            autorecipe.fit(data, epochs=1, progress=False, out=tmp_path / f"run{len(list(tmp_path.iterdir()))}",
                           device="cpu", **kwargs)
        return [str(w.message) for w in caught if "identical" in str(w.message)]

    assert warned(clean, val_fraction=0.2) == []  # distinct images: nothing to say
    texts = warned(conflicted, val=val)
    assert any(t.startswith("20 training images are identical copies under different labels (1 group(s)")
               and "as 'a' and" in t and "as 'b'" in t for t in texts)
    assert any(t.startswith("2 of the 3 validation images are also training images") for t in texts)


def test_search_scores_trials_by_the_metric_and_saves_it(tmp_path):
    from autorecipe.searching.settings import SearchSettings
    rng = np.random.default_rng(4)
    x, y = _skewed(rng, 60, 12)
    val = (np.concatenate([_blobs(rng, 30, 0), _blobs(rng, 6, 1)]), np.array([0] * 30 + [1] * 6))
    scores = {}
    for metric in ("accuracy", "auto"):
        result = autorecipe.search((x, y), val=val, budget="1 trials", epochs=1, out=tmp_path / metric,
                                   progress=False, library=False, retrain=False, device="cpu", metric=metric)
        scores[SearchSettings.load(tmp_path / metric).metric] = result.score
    assert set(scores) == {"accuracy", "balanced_accuracy"}  # auto: balanced accuracy on 60:12 classes
    assert scores["accuracy"] != scores["balanced_accuracy"]  # one trained model, scored two ways
    from autorecipe.searching.attributes import VAL_LABELS
    from autorecipe.searching.search import load_study
    stored = load_study(tmp_path / "auto").trials[0].user_attrs[VAL_LABELS]
    assert np.frombuffer(bytes.fromhex(stored), dtype="<u2").tolist() == val[1].tolist()
    assert VAL_LABELS not in load_study(tmp_path / "accuracy").trials[0].user_attrs


def test_the_paired_verdict_by_a_balanced_metric_weighs_each_class_alike():
    from autorecipe.searching.adoption import Paired, balanced_weights
    labels = np.array([0] * 90 + [1] * 10)
    candidate = np.r_[np.ones(80), np.zeros(10), np.ones(10)].astype(bool)  # 80 of the majority, all the minority
    base = np.r_[np.ones(90), np.zeros(10)].astype(bool)  # the whole majority, none of the minority
    weights = balanced_weights(labels)
    assert (weights * candidate).mean() == pytest.approx(0.5 * 80 / 90 + 0.5)  # the balanced accuracy
    assert Paired((candidate, base)).gain().mean == pytest.approx(0.0)  # accuracy: 90% both
    balanced = Paired((candidate, base), weights=(weights, None)).gain()
    assert balanced.mean == pytest.approx(0.5 - 0.5 * 10 / 90) and balanced.above_zero
