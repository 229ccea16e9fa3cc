"""ICGen-style variants of a core dataset: new resolution, class subset, training size and channels.

A variant is data (`VariantSpec`): drawn once from a seed, stored as JSON, and turned into images
deterministically by `materialize`. It subsamples the core's training images only; its test set is
the core's held-out images of the chosen classes (capped), so small variants keep a usable test set.

Draws (after Stoll 2020 / automl/ICGen's ranges, from which ZAP drew its datasets), with two departures:
- resolution 2**(4+b), b uniform within +-1 of the core's bracket floor(log2(native)) - 4,
  clipped to 16..128 px;
- classes uniform in [2, min(100, K)], a random subset;
- training images: all available with probability 1/4, else a total drawn log-uniformly in
  [20 * classes, available] (ICGen draws uniformly from [available/10, available]; log-uniform
  spreads n_train over orders of magnitude), split across classes in proportion to what each has,
  every class keeping >= 20 (or all it has);
- channels: a colour core becomes gray with probability 1/2 (ICGen keeps channels); gray stays gray.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from zap.data.dataset import ArrayDataset
from zap.data.images import resize_square, to_channels
from zap.data.split import DataSplit, SplitSettings
from zap.errors import ConfigError
from zap.utils import atomic_write_json, name_seed

MIN_RES, MAX_RES = 16, 128
MAX_CLASSES = 100
MIN_PER_CLASS = 20
FULL_SHARE = 0.25  # share of variants that keep every training image of their classes
DEFAULT_MAX_TEST = 300
WHOLE = 10**6  # the index of a core's "whole core" variant


def _sum_of_codes(name: str) -> int:
    return sum(map(ord, name))


# How a draw's random generator takes in the core's name. Rule 1 summed the name's character codes, so
# anagrams drew the same variants; meta-dataset v1 was drawn with it, and it stays only so that v1's
# specs can be drawn again. Rule 2 (`zap.utils.name_seed`) gives every name its own seed.
SEED_RULES: dict[int, Callable[[str], int]] = {1: _sum_of_codes, 2: name_seed}
SEED_RULE = 2


@dataclass(frozen=True)
class VariantSpec:
    core: str
    domain: str
    seed: int
    index: int
    resolution: int
    channels: int
    classes: tuple[int, ...]
    n_train: int
    max_test: int = DEFAULT_MAX_TEST

    @property
    def name(self) -> str:
        return f"{self.core}--whole" if self.index == WHOLE else f"{self.core}--s{self.seed}v{self.index}"

    def to_dict(self) -> dict:
        return asdict(self) | {"name": self.name}

    @classmethod
    def from_dict(cls, values: dict) -> VariantSpec:
        fields = {k: v for k, v in values.items() if k != "name"}
        return cls(**fields | {"classes": tuple(fields["classes"])})


def _resolution(native: int, rng: np.random.Generator) -> int:
    bracket = math.floor(math.log2(max(native, 1))) - 4
    b = bracket + int(rng.integers(-1, 2))
    return int(np.clip(2 ** (4 + b), MIN_RES, MAX_RES))


def draw_variants(core, n: int, seed: int, max_test: int = DEFAULT_MAX_TEST,
                  seed_rule: int = SEED_RULE) -> list[VariantSpec]:
    """`n` variant specs of a built core (`zap.data.core.Core`), deterministic in `seed` and `seed_rule`
    (1 draws meta-dataset v1's variants again)."""
    if seed_rule not in SEED_RULES:
        raise ConfigError(f"unknown seed rule {seed_rule!r}; use one of {sorted(SEED_RULES)} (1 reproduces "
                          "meta-dataset v1's draws)")
    labels = core.dataset.labels[core.train_indices]
    k_total = core.dataset.n_classes
    name_part = SEED_RULES[seed_rule](core.spec.name)
    specs = []
    for index in range(n):
        rng = np.random.default_rng([seed, index, name_part])
        n_classes = int(rng.integers(2, min(MAX_CLASSES, k_total) + 1))
        classes = tuple(sorted(int(c) for c in rng.choice(k_total, n_classes, replace=False)))
        available = int(np.isin(labels, classes).sum())
        low = min(available, MIN_PER_CLASS * n_classes)
        n_train = round(math.exp(rng.uniform(math.log(max(low, 1)), math.log(max(available, 1)))))
        if rng.random() < FULL_SHARE:
            n_train = available
        colour = core.dataset.n_channels == 3 and rng.random() < 0.5
        specs.append(VariantSpec(core.spec.name, core.spec.domain, seed, index,
                                 _resolution(core.spec.resolution, rng), 3 if colour else 1, classes,
                                 max(low, n_train), max_test))
    return specs


def whole_core(core, max_test: int = DEFAULT_MAX_TEST) -> VariantSpec:
    """The core itself as a variant: every class and training image, native resolution and channels."""
    n_train = len(core.train_indices)
    return VariantSpec(core.spec.name, core.spec.domain, 0, WHOLE, core.spec.resolution, core.dataset.n_channels,
                       tuple(range(core.dataset.n_classes)), n_train, max_test)


def _allocate(counts: np.ndarray, total: int, minimum: int) -> np.ndarray:
    """Split `total` over classes in proportion to their sizes, each keeping >= `minimum` (or all it has)."""
    floor = np.minimum(counts, minimum)
    extra = max(0, total - int(floor.sum()))
    share = np.floor(extra * (counts - floor) / max(1, int((counts - floor).sum()))).astype(int)
    return np.minimum(counts, floor + share)


def _take(pool: np.ndarray, labels: np.ndarray, classes: tuple[int, ...], total: int, minimum: int,
          rng: np.random.Generator) -> np.ndarray:
    counts = np.array([(labels[pool] == c).sum() for c in classes])
    picks = [rng.permutation(pool[labels[pool] == c])[:m]
             for c, m in zip(classes, _allocate(counts, total, minimum), strict=True)]
    return np.sort(np.concatenate(picks))


def materialize(core, spec: VariantSpec) -> DataSplit:
    """The variant's images: train and test splits at the variant's resolution and channels."""
    if spec.core != core.spec.name:
        raise ValueError(f"variant {spec.name} belongs to core {spec.core}, not {core.spec.name}")
    rng = np.random.default_rng([spec.seed, spec.index, 7])
    labels = core.dataset.labels
    train = _take(core.train_indices, labels, spec.classes, spec.n_train, MIN_PER_CLASS, rng)
    test = _take(core.test_indices, labels, spec.classes, spec.max_test, 1, rng)
    chosen = np.concatenate([train, test])
    remap = {c: i for i, c in enumerate(spec.classes)}
    images = np.stack([resize_square(to_channels(core.dataset.load(int(i)), spec.channels), spec.resolution)
                       for i in chosen])
    dataset = ArrayDataset(images, np.array([remap[int(c)] for c in labels[chosen]]),
                           [core.dataset.class_names[c] for c in spec.classes], name=spec.name)
    n = len(train)
    settings = SplitSettings(test_ratio=len(test) / len(chosen), max_test=spec.max_test, seed=spec.seed)
    return DataSplit(dataset.subset(np.arange(n)), dataset.subset(np.arange(n, len(chosen))), settings)


def save_specs(specs: list[VariantSpec], path) -> None:
    atomic_write_json(path, [s.to_dict() for s in specs])


def load_specs(path) -> list[VariantSpec]:
    with open(path) as handle:
        return [VariantSpec.from_dict(v) for v in json.load(handle)]
