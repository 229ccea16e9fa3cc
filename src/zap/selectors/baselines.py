"""Baselines in the selector interface: Random, Single-best, a fixed pipeline (Default, Recommended) and
the kNN reference. The Oracle needs the test rows' performance, so it lives in the benchmark, not here."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from zap.selectors.base import MAX_SEED, Selector, SelectorError, check_setting

if TYPE_CHECKING:
    from zap.selectors.store import StateReader


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

    def _check_settings(self) -> None:
        check_setting(self, "seed", 0, MAX_SEED)

    def _fit(self, x, enc, y, groups) -> None:
        self.n_pipelines_ = enc.shape[0]

    def _scores(self, x: np.ndarray) -> np.ndarray:
        return np.random.default_rng(self.seed).random((x.shape[0], self.n_pipelines_))

    def _state(self) -> dict[str, Any]:
        return {}  # the candidates' count is the encodings'

    def _from_state(self, state: StateReader) -> None:
        self.n_pipelines_ = len(self.encodings_)


class SingleBest(Selector):
    """The pipeline with the best mean performance over the training datasets (missing cells skipped),
    the same for every new dataset; the rest ordered by their mean too."""

    name = "single-best"

    def _fit(self, x, enc, y, groups) -> None:
        self.mean_ = column_means(y)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        return np.tile(self.mean_, (x.shape[0], 1))

    def _state(self) -> dict[str, Any]:
        return {"mean": self.mean_}

    def _from_state(self, state: StateReader) -> None:
        self.mean_ = state.array("mean", (len(self.encodings_),))


class FixedPipeline(Selector):
    """Always the pipeline at `index` (e.g. the `autodl-default` or `recommended` column); the others
    follow in Single-best order so `rank` stays a full ranking."""

    name = "fixed"

    def __init__(self, index: int, label: str = "fixed"):
        self.index = index
        self.label = label

    def _check_settings(self) -> None:
        check_setting(self, "index", 0, 10**9)
        if not isinstance(self.label, str):
            raise SelectorError(f"FixedPipeline setting label must be a string, got {self.label!r}")

    def _fit(self, x, enc, y, groups) -> None:
        if not 0 <= self.index < enc.shape[0]:
            raise SelectorError(f"pipeline index {self.index} is outside the {enc.shape[0]} candidates")
        self.fallback_ = column_means(y)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        scores = np.tile(self.fallback_, (x.shape[0], 1))
        scores[:, self.index] = np.inf
        return scores

    def _state(self) -> dict[str, Any]:
        return {"fallback": self.fallback_}

    def _from_state(self, state: StateReader) -> None:
        if not self.index < len(self.encodings_):
            raise state.error(None, f"is of a fixed pipeline {self.index!r} outside the {len(self.encodings_)} "
                                    "candidates")
        self.fallback_ = state.array("fallback", (len(self.encodings_),))


class NearestDatasets(Selector):
    """The kNN reference: per new dataset, the pipelines' mean over its `k` nearest training datasets in
    standardized meta-feature space (cells a neighbour lacks skipped), ties and unmeasured columns in
    Single-best order. It measures how much the meta-features say with no model at all: a selector that
    does not beat it has learned nothing the nearest datasets did not already show."""

    name = "knn"

    def __init__(self, k: int = 5):
        self.k = k

    def _check_settings(self) -> None:
        check_setting(self, "k", 1, 10**6)

    def _fit(self, x, enc, y, groups) -> None:
        self.x_, self.y_ = x, y
        self.prior_ = column_means(y)

    def neighbours(self, x: np.ndarray) -> np.ndarray:
        """[n x k] indices of the nearest training datasets, nearest first."""
        return nearest_rows(self.x_, x, self.k)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column none of the neighbours measured
            means = np.nanmean(self.y_[self.neighbours(x)], axis=1)
        ties = 1e-9 * _order_scores(self.prior_)
        return np.where(np.isnan(means), -np.inf, means + ties)

    def _state(self) -> dict[str, Any]:
        return {"x": self.x_, "y": self.y_, "prior": self.prior_}

    def _from_state(self, state: StateReader) -> None:
        n = len(self.encodings_)
        self.x_ = state.array("x", (None, self.n_features_))
        if len(self.x_) < 2:  # `fit` refuses fewer than 2 groups; with no row the nearest k would be none
            raise state.error("x", f"holds {len(self.x_)} training datasets, a fitted kNN has at least 2")
        self.y_ = state.array("y", (len(self.x_), n))
        self.prior_ = state.array("prior", (n,))


def nearest_rows(train: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """[n x k] indices of the `k` rows of `train` nearest each row of `x` in meta-feature space standardized by
    `train` (a constant feature is left unscaled), nearest first; ties keep `train`'s order."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std == 0, 1.0, std)
    z, base = (np.atleast_2d(x) - mean) / std, (train - mean) / std
    distance = ((z[:, None, :] - base[None, :, :]) ** 2).sum(axis=2)
    return np.argsort(distance, axis=1, kind="stable")[:, : min(k, len(train))]


def _order_scores(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1) that order columns as `values` do: a tie-break too small to change a real gap."""
    finite = np.where(np.isfinite(values), values, -np.inf)
    ranks = np.argsort(np.argsort(finite, kind="stable"), kind="stable")
    return ranks / max(1, len(values))
