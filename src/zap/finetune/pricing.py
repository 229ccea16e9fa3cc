"""What a run's first prediction costs at the least, priced before the run on the reference clock.

The runner never abandons a run's first prediction (a user always gets one), so a run whose first answer
costs more than its budget overruns it by that much. A search that gives many short runs (`zap tune`'s
smallest Hyperband fidelity) can ask the price first and skip a run that cannot answer in time, instead of
paying the overrun. The price follows the runner's own order of work with the same cost table, so on the
`ref` clock it is exact where the quick model answers first and a lower bound where the CNN does (it
leaves out the optimizer steps before the first prediction pass).
"""

from __future__ import annotations

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


def first_answer_price(train: ImageDataset, n_test: int, config: Mapping[str, Any], *, seed: int = 0,
                       costs: CostTable | None = None, resolution: int | None = None) -> float | None:
    """The fewest reference seconds after which `run(train, test, config, seed=seed)` can record its first
    prediction of a test set of `n_test` images; None where nothing can be priced (no test images, or no
    price for the architecture). `resolution`: the training images' median side, where the caller already
    knows it (it reads every image's size otherwise)."""
    if n_test < 1:
        return None
    cfg = as_dict(complete(config))
    if resolution is None:
        resolution = compute_metafeatures(train).resolution
    size = input_size(resolution, 2 ** int(cfg["log2_max_size"]))
    prices = run_costs(costs if costs is not None else default_cost_table(), cfg, size)
    if prices is None:
        return None
    labels = train.labels
    fit_idx, valid_idx = fit_valid_split(labels, train.n_classes, cfg, seed)
    answer = prices.decode(n_test)  # the test images are decoded once, by whichever model answers first
    if cfg.get("first_simple_model"):
        return answer + _quick_model_price(prices, cfg["simple_model"], fit_idx, labels, n_test, seed)
    return answer + _first_pass_price(prices, int(cfg["batch_size"]), len(fit_idx), len(valid_idx), n_test)


def _quick_model_price(prices: RunCosts, name: str, fit_idx: np.ndarray, labels: np.ndarray, n_test: int,
                       seed: int) -> float:
    """Decoding its training sample, fitting it, and predicting the test images (as `_Run.quick_model_prediction`)."""
    take = quick.training_sample(fit_idx, labels, seed)
    return (prices.decode(len(take)) + prices.quick_fit(name, len(take), len(np.unique(labels[take])))
            + prices.quick_predict(name, n_test))


def _first_pass_price(prices: RunCosts, batch_size: int, n_fit: int, n_valid: int, n_test: int) -> float:
    """The first training batch's images decoded, then one prediction pass over validation and test (as
    `_Run._evaluate`); the steps before the pass are left out, so this is a lower bound."""
    return prices.decode(min(batch_size, n_fit) + n_valid) + prices.predict(n_valid + n_test)
