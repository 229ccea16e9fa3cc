"""Budgeted fine-tuning with anytime predictions (the AutoDL protocol on one dataset)."""

from zap.finetune.clock import CLOCKS, Budget, Stopwatch
from zap.finetune.runner import Prediction, RunResult, resolve_device, run

__all__ = ["CLOCKS", "Budget", "Prediction", "RunResult", "Stopwatch", "resolve_device", "run"]
