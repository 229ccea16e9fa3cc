"""When to change the learning rate and when to predict: both as functions of budget progress.

Expressing the schedules through the budget clock (not absolute seconds) is what lets one pipeline
mean the same thing at 20 CPU-seconds and at 20 GPU-minutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class LearningRate:
    """Linear warm-up from lr to lr*multiplier, then cosine over the budget or halving on plateaus."""

    lr: float
    min_lr: float
    multiplier: float
    warmup_epochs: int
    steps_per_epoch: int
    scheduler: str  # "plateau" or "cosine"
    plateau_patience: int = 2
    plateau_factor: float = 0.5
    plateau_threshold: float = 1e-3

    def __post_init__(self) -> None:
        self._scale = 1.0
        self._best_loss = math.inf
        self._bad_epochs = 0
        self._warm_end: float | None = None  # budget progress when the warm-up ended

    @property
    def peak(self) -> float:
        return self.lr * self.multiplier

    def at(self, step: int, progress: float) -> float:
        """The rate for optimizer step `step` at budget fraction `progress` (0..1)."""
        epoch = step / self.steps_per_epoch
        if epoch < self.warmup_epochs:
            return self.lr * (1.0 + (self.multiplier - 1.0) * epoch / self.warmup_epochs)
        if self._warm_end is None:
            self._warm_end = progress
        if self.scheduler == "cosine":
            span = max(1e-9, 1.0 - self._warm_end)
            done = min(1.0, max(0.0, (progress - self._warm_end) / span))
            return self.min_lr + (self.peak - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * done))
        return max(self.min_lr, self.peak * self._scale)

    def end_of_epoch(self, mean_loss: float) -> None:
        """Plateau bookkeeping: halve the rate after `plateau_patience` epochs without improvement."""
        if self.scheduler != "plateau":
            return
        if mean_loss < self._best_loss * (1.0 - self.plateau_threshold):
            self._best_loss, self._bad_epochs = mean_loss, 0
            return
        self._bad_epochs += 1
        if self._bad_epochs >= self.plateau_patience:
            self._scale *= self.plateau_factor
            self._bad_epochs = 0


@dataclass
class EvalSchedule:
    """Prediction times as budget fractions: first at `first`, then gaps growing by `step` up to `max_gap`."""

    first: float
    step: float
    max_gap: float

    def __post_init__(self) -> None:
        self.next_at = self.first
        self._gap = self.first

    def due(self, progress: float) -> bool:
        return progress >= self.next_at

    def advance(self, progress: float) -> None:
        self._gap = min(self.max_gap, self._gap + self.step)
        self.next_at = max(self.next_at, progress) + self._gap
