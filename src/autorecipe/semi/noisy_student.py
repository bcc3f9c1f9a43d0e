"""Noisy student (Xie et al., 2020): a teacher trains on the labels, labels the unlabeled images it is confident
about, and a noised student (RandAugment, dropout, stochastic depth; as wide or wider) trains on both; the
student teaches the next round. The rounds share the time budget. With a checkpoint, every model trained
writes its own (the teacher's and each round's stage), so a killed fit resumes within the round it was in.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..data.cache import cache_root
from ..data.dataset import ImageData
from ..data.loader import BatchLoader, free_memory
from ..knobs import IntRange, Interval, Uniform, knob
from ..recipe import Recipe
from ..training.checkpoint import Checkpoint
from ..training.loop import TrainResult, train
from ..training.scoring import predict_logits

log = logging.getLogger("autorecipe")

STUDENT = ("semi_supervised", ("noisy_student",))
STUDENT_ROUNDS = knob(
    "student_rounds", bucket="data", default=1, baseline=1, valid=Interval(int, 1, 10), search=IntRange(1, 3),
    when=STUDENT,
    doc="Noisy student: rounds of a student learning from its teacher's pseudo-labels (each student teaches the next).",
)
TEACHER_THRESHOLD = knob(
    "teacher_threshold", bucket="data", default=0.3, baseline=0.3, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.1, 0.9), when=STUDENT,
    doc="Noisy student: the teacher's confidence a pseudo-label needs (0.3 in the paper's code).",
)
STUDENT_WIDTH = knob(
    "student_width", bucket="data", default=1.0, baseline=1.0, valid=Interval(float, 0.25, 4.0),
    search=Uniform(1.0, 2.0), when=STUDENT,
    doc="Noisy student: each student's width as a multiple of its teacher's (an equal or larger student).",
)
STUDENT_NOISE = {"dropout": 0.3, "drop_path": 0.1}  # the least a student gets; RandAugment when no policy is on
MEMORY_SHARE = 0.4  # a student's joined images larger than this share of free memory are written to disk
CHUNK = 4096  # images copied at a time into a joined set on disk


def train_noisy_student(recipe: Recipe, train_data: ImageData, val_data: ImageData | None, unlabeled: ImageData,
                        *, device: torch.device, seed: int = 0, time_budget: float | None = None,
                        checkpoint: Checkpoint | None = None,
                        **train_kwargs) -> tuple[TrainResult, Recipe, list[dict]]:
    """The last student's training result and recipe, and per round how many pseudo-labels were kept (and,
    where `unlabeled` holds true labels, how many of them were right)."""
    rounds = recipe.data.student_rounds
    spent = 0.0  # the training time of the models trained so far (resumed ones' included) and the labelling

    def share(models_left: int) -> float | None:  # the time left, split among the models still to train
        return None if time_budget is None else max(0.0, time_budget - spent) / models_left

    def stage(name: str) -> Checkpoint | None:
        return checkpoint.stage(name) if checkpoint is not None else None

    # The teacher: the recipe on the labelled images alone
    log.info("noisy student: teacher on %d labelled images", len(train_data))
    result = train(recipe, train_data, val_data, device=device, seed=seed, time_budget=share(rounds + 1),
                   checkpoint=stage("teacher"), **train_kwargs)
    spent += result.seconds
    teacher, summary = recipe, []
    for number in range(1, rounds + 1):
        if result.best_epoch is None or result.status in ("interrupted", "diverged", "stopped"):
            break
        # Pseudo-label, balance the classes, and train a noised, wider student on both
        began = time.perf_counter()
        chosen, labels, kept = pseudo_labels(result, teacher, unlabeled, device, seed + number)
        student = student_recipe(teacher)
        with tempfile.TemporaryDirectory(prefix="student-", dir=_scratch()) as scratch:
            combined = _joined(train_data, unlabeled, chosen, labels, Path(scratch))
            row = {"round": number, "kept": kept, "mask_rate": kept / len(unlabeled), "trained_on": len(combined)}
            known = unlabeled.y[chosen] >= 0
            if known.any():
                row["pseudo_label_accuracy"] = float((unlabeled.y[chosen][known] == labels[known]).mean())
            log.info("noisy student round %d: %s", number, row)
            summary.append(row)
            spent += time.perf_counter() - began
            result = train(student, combined, val_data, device=device, seed=seed + number,
                           time_budget=share(rounds - number + 1), checkpoint=stage(f"round{number}"),
                           **train_kwargs)
            spent += result.seconds
            del combined  # its memory map closes before the folder goes
        teacher = student
    return result, teacher, summary


def pseudo_labels(result: TrainResult, recipe: Recipe, unlabeled: ImageData, device: torch.device,
                  seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(positions in `unlabeled`, their pseudo-labels, how many passed the threshold): the teacher's confident
    labels, balanced to the same count a class (the most confident of a common class; a rare class's repeated)."""
    opt = recipe.optimization
    batches = BatchLoader(unlabeled, device, 512, shuffle=False)
    logits, _ = predict_logits(result.model, batches, device, result.precision, opt.channels_last)
    probs = torch.from_numpy(logits).softmax(1).numpy()
    confidence, labels = probs.max(1), probs.argmax(1)
    confident = np.flatnonzero(confidence >= recipe.data.teacher_threshold)
    if not len(confident):
        return confident, labels[confident], 0
    per_class = [confident[labels[confident] == c] for c in range(probs.shape[1])]
    target = int(round(np.mean([len(p) for p in per_class if len(p)])))
    rng = np.random.default_rng(seed)
    chosen = []
    for members in per_class:
        if not len(members):
            continue
        ranked = members[np.argsort(-confidence[members], kind="stable")]
        chosen.append(ranked[:target] if len(ranked) >= target else rng.choice(ranked, size=target))
    chosen = np.concatenate(chosen)
    return chosen, labels[chosen], len(confident)


def student_recipe(teacher: Recipe) -> Recipe:
    """The teacher's recipe noised (RandAugment unless a policy is on, at least STUDENT_NOISE) and widened."""
    reg, arch = teacher.regularization, teacher.architecture
    values = {name: max(getattr(reg, name), least) for name, least in STUDENT_NOISE.items()}
    if reg.policy == "none":
        values["policy"] = "randaugment"
    values["width"] = arch.width * teacher.data.student_width
    return teacher.with_values(values)


def _joined(labelled: ImageData, unlabeled: ImageData, chosen: np.ndarray, labels: np.ndarray,
            scratch: Path) -> ImageData:
    """The labelled images and the chosen unlabeled ones with their pseudo-labels as one set: in memory, or
    when larger than MEMORY_SHARE of the free memory, a memory map in `scratch` (the loader streams it)."""
    shape = (len(labelled) + len(chosen),) + labelled.x.shape[1:]
    if np.prod(shape) < MEMORY_SHARE * free_memory():
        x = np.concatenate([labelled.images(), np.ascontiguousarray(unlabeled.x[unlabeled.rows[chosen]])])
    else:
        log.info("noisy student: %d joined images written to %s (larger than memory allows)", shape[0], scratch)
        x = np.lib.format.open_memmap(scratch / "x.npy", mode="w+", dtype=np.uint8, shape=shape)
        x[:len(labelled)] = labelled.images()
        rows = unlabeled.rows[chosen]
        for start in range(0, len(rows), CHUNK):
            x[len(labelled) + start:len(labelled) + start + CHUNK] = unlabeled.x[rows[start:start + CHUNK]]
        x.flush()
    y = np.concatenate([labelled.y, labels.astype(np.int64)])
    return replace(labelled, x=x, rows=np.arange(len(x)), y=y, description=f"{labelled.description} + pseudo-labels")


def _scratch() -> Path:
    """Where a joined set too large for memory goes: beside the decoded images' cache."""
    folder = cache_root()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
