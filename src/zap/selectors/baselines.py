"""Baselines in the selector interface: Random, Single-best and a fixed pipeline (Default, Recommended).
The Oracle needs the test rows' performance, so it lives in the benchmark, not here."""

from __future__ import annotations

import numpy as np

from zap.selectors.base import Selector, SelectorError


def column_means(y: np.ndarray) -> np.ndarray:
    """Mean of each pipeline over the datasets where it was measured; -inf where it never was."""
    counts = (~np.isnan(y)).sum(axis=0)
    sums = np.nansum(y, axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)


class RandomSelector(Selector):
    """A uniformly random order per dataset (seeded). The benchmark scores Random by its expectation,
    the mean over candidates, which is what averaging over many seeded draws converges to."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _fit(self, x, enc, y, groups) -> None:
        self.n_pipelines_ = enc.shape[0]

    def _scores(self, x: np.ndarray) -> np.ndarray:
        return np.random.default_rng(self.seed).random((x.shape[0], self.n_pipelines_))


class SingleBest(Selector):
    """The pipeline with the best mean performance over the training datasets (missing cells skipped),
    the same for every new dataset; the rest ordered by their mean too."""

    name = "single-best"

    def _fit(self, x, enc, y, groups) -> None:
        self.mean_ = column_means(y)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        return np.tile(self.mean_, (x.shape[0], 1))


class FixedPipeline(Selector):
    """Always the pipeline at `index` (e.g. the `autodl-default` or `recommended` column); the others
    follow in Single-best order so `rank` stays a full ranking."""

    name = "fixed"

    def __init__(self, index: int, label: str = "fixed"):
        self.index = index
        self.label = label

    def _fit(self, x, enc, y, groups) -> None:
        if not 0 <= self.index < enc.shape[0]:
            raise SelectorError(f"pipeline index {self.index} is outside the {enc.shape[0]} candidates")
        self.fallback_ = column_means(y)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        scores = np.tile(self.fallback_, (x.shape[0], 1))
        scores[:, self.index] = np.inf
        return scores
