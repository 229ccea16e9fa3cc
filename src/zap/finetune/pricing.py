"""What a run's first prediction costs at the least, priced before the run on the reference clock.

The runner never abandons a run's first prediction (a user always gets one), so a run whose first answer
costs more than its budget overruns it by that much. A search that gives many short runs (`zap tune`'s
smallest Hyperband fidelity) can ask the price first and skip a run that cannot answer in time, instead of
paying the overrun. The price follows the runner's own order of work with the same cost table, and it is a
lower bound on the `ref` clock, so a run skipped for its price could not have answered in time: where the
CNN answers first it counts one optimizer step and leaves out any more before the first prediction pass,
and where the quick model does it prices the predictions at the cheaper of that model and the logistic
regression any quick model can fall back to when its fit fails (exact where the quick model is, or falls
back to, the cheaper).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from zap.data.dataset import ImageDataset
from zap.finetune import quick
from zap.finetune.batches import input_size
from zap.finetune.refclock import CostTable, RunCosts, default_cost_table, run_costs
from zap.finetune.runner import fit_valid_split
from zap.metafeatures import compute as compute_metafeatures
from zap.pipelines.space import as_dict, complete

# How far a priced first answer must pass a budget before it is believed. On the ref clock the price is a lower
# bound of what the runner charges; on the wall clock a budget becomes reference seconds through the device
# probe (one architecture at one input size), and on the CPU clock one CPU second is taken for one reference
# second, so only a price above twice the budget is trusted there.
PRICE_MARGIN = {"ref": 1.0, "wall": 2.0, "cpu": 2.0}


def cannot_answer(price_ref: float | None, budget_ref: float | None, clock: str) -> bool:
    """Whether a run priced at `price_ref` surely answers only after a budget of `budget_ref` on `clock`, both in
    the same units (reference seconds, or the clock's own); False wherever either is unknown (a budget of
    steps: answers cost none)."""
    if price_ref is None or budget_ref is None or clock not in PRICE_MARGIN:
        return False
    return price_ref > budget_ref * PRICE_MARGIN[clock]


def first_answer_price(train: ImageDataset, n_test: int, config: Mapping[str, Any], *, seed: int = 0,
                       costs: CostTable | None = None, resolution: int | None = None) -> float | None:
    """The fewest reference seconds after which `run(train, test, config, seed=seed)` can record its first
    prediction of a test set of `n_test` images; None where nothing can be priced (no test images, or no
    price for the architecture). `resolution`: the training images' median side, where the caller already
    knows it (it reads every image's size otherwise)."""
    if n_test < 1:
        return None
    if resolution is None:
        resolution = compute_metafeatures(train).resolution
    cfg, prices = _run_prices(config, resolution, costs)
    if prices is None:
        return None
    labels = train.labels
    fit_idx, valid_idx = fit_valid_split(labels, train.n_classes, cfg, seed)
    answer = prices.decode(n_test)  # the test images are decoded once, by whichever model answers first
    if cfg.get("first_simple_model"):
        return answer + _quick_model_price(prices, cfg["simple_model"], fit_idx, labels, n_test, seed)
    first_step = _first_step(prices, int(cfg["batch_size"]), len(fit_idx))
    return answer + first_step + prices.decode(len(valid_idx)) + prices.predict(len(valid_idx) + n_test)


def first_step_price(config: Mapping[str, Any], resolution: int, n_fit: int,
                     costs: CostTable | None = None) -> float | None:
    """What a run's first optimizer step costs on the reference clock: its batch's images decoded and the step
    (a later step of the first epoch costs the same). None where the table cannot price the architecture."""
    cfg, prices = _run_prices(config, resolution, costs)
    return None if prices is None else _first_step(prices, int(cfg["batch_size"]), n_fit)


def fit_images_at_least(config: Mapping[str, Any], n_train: int, n_classes: int) -> int:
    """The fewest images a run fits on out of `n_train` labelled ones, where only their number is known (replay
    from an artifact): the validation holdout takes about `cv_valid_ratio` of each class and at least one image
    of each, up to `max_valid_count` (`zap.data.split.stratified_holdout`). A lower bound keeps a step's price
    one too."""
    cfg = as_dict(complete(config))
    holdout = min(int(cfg["max_valid_count"]), n_classes + math.ceil(float(cfg["cv_valid_ratio"]) * n_train))
    return max(1, n_train - holdout)


def _run_prices(config: Mapping[str, Any], resolution: int, costs: CostTable | None
                ) -> tuple[dict[str, Any], RunCosts | None]:
    """The completed configuration and its run's prices at the input size it takes for this resolution."""
    cfg = as_dict(complete(config))
    size = input_size(resolution, 2 ** int(cfg["log2_max_size"]))
    return cfg, run_costs(costs if costs is not None else default_cost_table(), cfg, size)


def _first_step(prices: RunCosts, batch_size: int, n_fit: int) -> float:
    batch = min(batch_size, n_fit)  # the loader drops no last batch when there is only one
    return prices.decode(batch) + prices.step(batch)


def _quick_model_price(prices: RunCosts, name: str, fit_idx: np.ndarray, labels: np.ndarray, n_test: int,
                       seed: int) -> float:
    """Decoding its training sample, fitting it (priced as the model asked for, as the runner does), and
    predicting the test images with what answers (as `_Run.quick_model_prediction`)."""
    take = quick.training_sample(fit_idx, labels, seed)
    answers = quick.planned_model(name, labels[take])
    predict = min(prices.quick_predict(answers, n_test), prices.quick_predict(quick.FALLBACK, n_test))
    return prices.decode(len(take)) + prices.quick_fit(name, len(take), len(np.unique(labels[take]))) + predict
