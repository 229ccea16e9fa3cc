"""Retraining a finished run's pipeline on all the labelled data, for `zap fit --refit` and `zap tune --refit`.

The run chose how long to train and which model answers; the refit repeats that choice on more data instead
of making a new one: the CNN for the optimizer steps the run made (on the `steps` clock, so it is the same
amount of training on any machine) on every image, no validation share held out (nothing is left to
decide), or, where the run's quick model answered (the CNN never validated better within the budget), that
quick model fitted again on every image. A refit that cannot make a usable model raises `RefitError`, and
the caller keeps the run's own model: a refit is an improvement to offer, never a reason to lose the run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from zap.data.dataset import ImageDataset
from zap.finetune import quick
from zap.finetune.batches import PixelCache
from zap.finetune.clock import Budget
from zap.finetune.predictor import Predictor
from zap.finetune.runner import RunResult, ctrl_c_raises, run


class RefitError(Exception):
    """The refit made no usable model (its training diverged, or the quick model could not be fitted)."""


def refit(data: ImageDataset, result: RunResult, config: Mapping[str, Any], *, seed: int = 0, threads: int = 1,
          device: str = "cpu", progress: bool = False) -> tuple[Predictor, int]:
    """The run's model retrained on `data`, and the optimizer steps that took (0 for a quick model). Ctrl-C
    raises KeyboardInterrupt whatever handler a library installed."""
    with ctrl_c_raises():
        if result.quick_model is not None:
            return _refit_quick(data, result, config, seed), 0
        steps = max(1, int(result.elapsed["steps"]))
        again = run(data, None, dict(config), Budget(steps, "steps"), seed=seed, threads=threads, device=device,
                    progress=progress, hold_out=False)
    if again.status != "ok":
        raise RefitError(f"the refit's training ended {again.status}: {again.error}")
    return Predictor.from_result(again), steps


def _refit_quick(data: ImageDataset, result: RunResult, config: Mapping[str, Any], seed: int) -> Predictor:
    cache = PixelCache(data, result.input_size)
    try:
        model, _ = quick.fit_on_images(config["simple_model"], cache, np.arange(len(data)), data.labels, seed)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        name = config["simple_model"]
        raise RefitError(f"the quick model {name} could not be fitted on all the data: {exc}") from exc
    return replace(Predictor.from_result(result), quick_model=model)
