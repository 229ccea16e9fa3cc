"""Retraining a finished run's pipeline on all the labelled data, for `zap fit --refit` and `zap tune --refit`.

The run chose how long to train and which model answers; the refit repeats that choice on more data instead
of making a new one: the CNN for the optimizer steps the run made (on the `steps` clock, so it is the same
amount of training on any machine), or, where the run's quick model answered (the CNN never validated
better within the budget), that quick model fitted again on every image."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from zap.data.dataset import ImageDataset
from zap.finetune import quick
from zap.finetune.batches import PixelCache
from zap.finetune.clock import Budget
from zap.finetune.predictor import Predictor
from zap.finetune.runner import RunResult, run


def refit(data: ImageDataset, result: RunResult, config: Mapping[str, Any], *, seed: int = 0, threads: int = 1,
          device: str = "cpu", progress: Callable[..., None] | None = None) -> tuple[Predictor, int]:
    """The run's model retrained on `data`, and the optimizer steps that took (0 for a quick model)."""
    predictor = Predictor.from_result(result)
    if result.quick_model is not None:
        cache = PixelCache(data, result.input_size)
        model, _ = quick.fit_on_images(config["simple_model"], cache, np.arange(len(data)), data.labels, seed)
        return replace(predictor, quick_model=model), 0
    steps = max(1, int(result.elapsed["steps"]))
    again = run(data, None, dict(config), Budget(steps, "steps"), seed=seed, threads=threads, device=device,
                progress=progress)
    return Predictor.from_result(again), steps
