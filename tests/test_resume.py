"""`fit --resume`: a killed or interrupted fit continues from its last checkpoint (noisy student within its
round), the same as an uninterrupted one; the status marker; changed arguments refused; checkpoint costs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import autorecipe
from autorecipe.cli import main
from autorecipe.errors import AutorecipeError
from autorecipe.training import checkpoint as checkpoints
from autorecipe.training.callbacks import Callback

QUICK = {"epochs": 4, "width": 0.25}


class Interrupt(Callback):
    """Raises `error` at the end of the `at`-th epoch it sees (as Ctrl-C, or as a kill when not an interrupt)."""

    def __init__(self, at: int, error: type[BaseException] = KeyboardInterrupt):
        self.at, self.error, self.seen, self.starts = at, error, 0, 0

    def on_start(self, epochs, steps_per_epoch, summary):
        self.starts += 1

    def on_epoch(self, record):
        self.seen += 1
        if self.seen == self.at:
            raise self.error


class Killed(Exception):
    """Stands for a SIGKILL: nothing of the fit's own handling runs after it."""


def _status(folder) -> str:
    return json.loads((folder / "fit.json").read_text())["status"]


def _losses(run) -> list[list[float]]:
    return [[h["train_loss"], h["val_loss"], h["val_accuracy"]] for h in run.history]


def test_an_interrupted_fit_resumes_to_the_same_result_as_an_uninterrupted_one(tmp_path):
    whole = autorecipe.fit("digits", overrides=QUICK, out=tmp_path / "whole", device="cpu", seed=2, progress=False)
    assert _status(tmp_path / "whole") == "completed" and not list((tmp_path / "whole").glob("checkpoint*"))

    part = autorecipe.fit("digits", overrides=QUICK, out=tmp_path / "part", device="cpu", seed=2, progress=False,
                          callbacks=[Interrupt(at=2)])
    assert part.metrics["status"] == "interrupted" and len(part.history) == 2
    assert _status(tmp_path / "part") == "interrupted" and (tmp_path / "part" / "checkpoint.pt").is_file()

    resumed = autorecipe.fit(resume=tmp_path / "part", device="cpu", progress=False)
    assert resumed.metrics["status"] == "completed" and len(resumed.history) == 4
    assert np.allclose(_losses(resumed), _losses(whole), rtol=1e-4, atol=1e-6)
    assert resumed.metrics["val_accuracy"] == whole.metrics["val_accuracy"]
    assert _status(tmp_path / "part") == "completed" and not (tmp_path / "part" / "checkpoint.pt").exists()
    assert "resuming from" in (tmp_path / "part" / "run.log").read_text()
    with pytest.raises(AutorecipeError, match="its fit ended .status completed.; nothing to resume"):
        autorecipe.fit(resume=tmp_path / "part", progress=False)


def test_a_killed_fit_resumes_from_its_last_checkpoint_and_counts_the_time_spent(tmp_path):
    with pytest.raises(Killed):
        autorecipe.fit("digits", overrides=QUICK, out=tmp_path, device="cpu", progress=False,
                       callbacks=[Interrupt(at=2, error=Killed)])
    assert _status(tmp_path) == "running"  # recognisably not ended
    saved = checkpoints.Checkpoint(tmp_path / "checkpoint.pt").load()
    assert len(saved["loop"]["history"]) == 1  # the first epoch's (the next is spaced out by the interval)
    resumed = autorecipe.fit(resume=tmp_path, device="cpu", progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.metrics["train_seconds"] >= saved["loop"]["elapsed"]
    assert autorecipe.load(tmp_path).evaluate("digits")["count"] > 0


def test_a_resume_refuses_changed_arguments_and_needs_arrays_again(tmp_path):
    from sklearn.datasets import load_digits
    digits = load_digits()
    x, y = (digits.images * (255 / 16)).round().astype(np.uint8), digits.target
    autorecipe.fit((x, y), overrides=QUICK, out=tmp_path, device="cpu", progress=False, callbacks=[Interrupt(at=1)])
    with pytest.raises(AutorecipeError, match="were arrays.*pass the same arrays again"):
        autorecipe.fit(resume=tmp_path, progress=False)
    with pytest.raises(AutorecipeError, match=r"changed argument\(s\): seed: 5 \(the run's: 0\)"):
        autorecipe.fit((x, y), resume=tmp_path, seed=5, progress=False)
    with pytest.raises(AutorecipeError, match=r"recipe: regularization.label_smoothing 0.3"):
        autorecipe.fit((x, y), resume=tmp_path, overrides={**QUICK, "label_smoothing": 0.3}, progress=False)
    with pytest.raises(AutorecipeError, match=r"changed argument\(s\): data: arrays"):
        autorecipe.fit((x[:-10], y[:-10]), resume=tmp_path, progress=False)
    with pytest.raises(AutorecipeError, match="resume .* and out .* differ"):
        autorecipe.fit((x, y), resume=tmp_path, out=tmp_path / "elsewhere", progress=False)
    (tmp_path / "other").mkdir()
    with pytest.raises(AutorecipeError, match="holds no fit.json"):
        autorecipe.fit(resume=tmp_path / "other", progress=False)
    resumed = autorecipe.fit((x, y), resume=tmp_path, overrides=QUICK, device="cpu", progress=False)
    assert len(resumed.history) == 4 and resumed.metrics["status"] == "completed"


def test_a_damaged_checkpoint_is_a_clear_error(tmp_path):
    autorecipe.fit("digits", overrides=QUICK, out=tmp_path, device="cpu", progress=False, callbacks=[Interrupt(at=1)])
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AutorecipeError, match="checkpoint .* cannot be read.*delete it"):
        autorecipe.fit(resume=tmp_path, device="cpu", progress=False)


@pytest.mark.parametrize("method", ["fixmatch", "noisy_student"])
def test_a_semi_supervised_fit_resumes_within_its_round(tmp_path, method):
    from sklearn.datasets import load_digits
    digits = load_digits()
    x, y = (digits.images * (255 / 16)).round().astype(np.uint8), digits.target
    knobs = {"epochs": 2, "width": 0.25, "semi_supervised": method, "teacher_threshold": 0.1}
    arguments = dict(val=(x[1000:1100], y[1000:1100]), unlabeled=x[200:1000], overrides=knobs, device="cpu",
                     progress=False)
    stop = Interrupt(at=3 if method == "noisy_student" else 1)  # noisy student: in the student's first epoch
    first = autorecipe.fit((x[:200], y[:200]), out=tmp_path, callbacks=[stop], **arguments)
    assert first.metrics["status"] == "interrupted"
    if method == "noisy_student":
        assert {p.name for p in tmp_path.glob("checkpoint*")} == {"checkpoint-teacher.pt", "checkpoint-round1.pt"}
    again = Interrupt(at=0)
    resumed = autorecipe.fit((x[:200], y[:200]), resume=tmp_path, callbacks=[again], **arguments)
    assert resumed.metrics["status"] == "completed" and len(resumed.history) == 2
    assert again.starts == 1  # noisy student: the teacher is not trained again, only the student goes on
    assert again.seen == 1  # one epoch left
    if method == "noisy_student":
        assert len(resumed.metrics["rounds"]) == 1 and resumed.recipe.regularization.policy == "randaugment"
    assert not list(tmp_path.glob("checkpoint*"))


def test_checkpoints_cost_under_3_percent_of_training_time(tmp_path, monkeypatch):
    spent, save = [], checkpoints.Checkpoint.save

    def timed(self, state):
        import time
        began = time.perf_counter()
        save(self, state)
        spent.append(time.perf_counter() - began)

    monkeypatch.setattr(checkpoints.Checkpoint, "save", timed)
    run = autorecipe.fit("digits", overrides={"width": 0.25}, budget="6s", epochs=100_000, out=tmp_path,
                         device="cpu", progress=False)
    assert len(run.history) >= 5 and len(spent) < len(run.history)  # several epochs, fewer checkpoints
    assert sum(spent[:-1]) < 0.03 * run.metrics["train_seconds"]  # the last: the finished training's result


def test_fit_command_resumes_a_run_folder(tmp_path, capsys):
    autorecipe.fit("digits", overrides=QUICK, out=tmp_path, device="cpu", progress=False, callbacks=[Interrupt(at=2)])
    assert main(["fit", "--resume", str(tmp_path), "--quiet", "--device", "cpu"]) == 0
    assert "completed" in capsys.readouterr().out and _status(tmp_path) == "completed"
    assert main(["fit", "--quiet"]) == 2
    assert "fit needs data" in capsys.readouterr().err
