"""Deterministic stratified splits: the data layer's train/test split and the pipeline's validation carve.

Every class keeps at least one training image; test and validation sets are capped so predictions
stay affordable inside short budgets. The same seed always gives the same indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zap.data.dataset import ImageDataset, SubsetDataset
from zap.errors import ConfigError
from zap.utils import check_range

DEFAULT_TEST_RATIO = 0.2
DEFAULT_MAX_TEST = 1000


def stratified_holdout(labels: np.ndarray, ratio: float, max_count: int, seed: int) -> np.ndarray:
    """Indices of a stratified holdout of about `ratio` of each class, at most `max_count` in total.

    Classes with >= 2 items contribute at least one item (while the cap allows) and keep at least one.
    """
    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"holdout ratio must lie in (0, 1), got {ratio}")
    if max_count < 1:
        raise ConfigError(f"the holdout cap must be >= 1, got {max_count}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    want = {c: min(max(1, round(ratio * len(ix))), len(ix) - 1) for c, ix in per_class.items()}
    total = sum(want.values())
    if total > max_count:
        # Scale every class down alike, then hand out the remainder by largest fraction (deterministic).
        exact = {c: want[c] * max_count / total for c in classes}
        want = {c: int(np.floor(exact[c])) for c in classes}
        leftover = max_count - sum(want.values())
        order = sorted(classes, key=lambda c: (-(exact[c] - want[c]), c))
        for c in order[:leftover]:
            want[c] += 1
    chosen = [per_class[c][: want[c]] for c in classes]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)


# every seed zap derives stays inside what numpy, torch and scikit-learn accept
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class SplitSettings:
    """How the data layer holds out its labelled test split (the budget's learning curve is scored on it)."""

    test_ratio: float = DEFAULT_TEST_RATIO
    max_test: int = DEFAULT_MAX_TEST
    seed: int = 0

    def __post_init__(self) -> None:
        """Checked here, so a library caller's bad split fails with its name, not inside numpy; whole numbers
        are kept as int (numpy's too) for the slicing and the JSON they go to."""
        check_range("test_ratio", self.test_ratio, 0, 1, low_open=True, high_open=True)
        check_range("max_test", self.max_test, 1, integer=True)
        check_range("seed", self.seed, 0, MAX_SEED, integer=True)
        object.__setattr__(self, "max_test", int(self.max_test))
        object.__setattr__(self, "seed", int(self.seed))


@dataclass(frozen=True)
class DataSplit:
    train: SubsetDataset
    test: SubsetDataset
    settings: SplitSettings


def train_test_split(dataset: ImageDataset, settings: SplitSettings | None = None) -> DataSplit:
    if not isinstance(dataset, ImageDataset):
        raise ConfigError(f"train_test_split splits a dataset (zap.load_dataset gives one), got a "
                          f"{type(dataset).__name__}")
    if not isinstance(settings, SplitSettings | None):
        raise ConfigError(f"settings must be a SplitSettings(test_ratio, max_test, seed), got {settings!r}")
    settings = settings or SplitSettings()
    test_idx = stratified_holdout(dataset.labels, settings.test_ratio, settings.max_test, settings.seed)
    train_mask = np.ones(len(dataset), dtype=bool)
    train_mask[test_idx] = False
    return DataSplit(dataset.subset(np.flatnonzero(train_mask)), dataset.subset(test_idx), settings)
