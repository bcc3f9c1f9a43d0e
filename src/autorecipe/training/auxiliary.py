"""The training wing's second stream: batches of unlabeled images and the objective that learns from them.

A semi-supervised method (autorecipe.semi) plugs in here: `train(..., unlabeled=images, objective=...)`
draws `objective.ratio` unlabeled images for every labelled one each step, passes them through
`objective.views` into the same forward pass as the labelled batch (batch norm sees both), adds
`objective.loss` to the labelled loss, and records `objective.epoch_metrics()` with every epoch.
"""

from __future__ import annotations

from typing import Protocol

import torch


class UnlabeledObjective(Protocol):
    """What a method that learns from unlabeled images gives the training step."""

    ratio: int  # unlabeled images a step for every labelled one

    def views(self, images: torch.Tensor) -> torch.Tensor:
        """The augmented views of a batch of [0, 1] unlabeled images, to go through the network."""

    def loss(self, view_logits: torch.Tensor, progress: float, truth: torch.Tensor) -> torch.Tensor:
        """The loss from the views' logits at training progress 0..1; `truth` holds true labels or -1."""

    def epoch_metrics(self) -> dict:
        """What to record with the epoch (e.g. the mask rate), since the last call."""

    def state_dict(self) -> dict:
        """Its running state (tensors, numbers), for a checkpoint."""

    def load_state_dict(self, state: dict) -> None:
        """Put back what `state_dict` gave."""
