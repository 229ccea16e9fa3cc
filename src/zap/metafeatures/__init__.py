"""The four trivial ZAP meta-features, the only thing selectors ever learn about a dataset.

Order and keys are fixed (`FEATURE_NAMES`); everything that stores or learns from meta-features uses
`MetaFeatures.vector()`, so the order can never drift between the meta-dataset and a user's dataset.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from zap.data.dataset import ImageDataset
from zap.data.split import MAX_SEED
from zap.errors import ConfigError
from zap.utils import check_range

FEATURE_NAMES: tuple[str, ...] = ("n_channels", "n_classes", "n_train", "resolution")
MAX_HEADERS = 1000


@dataclass(frozen=True)
class MetaFeatures:
    n_channels: int
    n_classes: int
    n_train: int
    resolution: int
    variable_size: bool = False  # information only: not one of the four features

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in FEATURE_NAMES], dtype=float)

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, values: dict) -> MetaFeatures:
        missing = [name for name in FEATURE_NAMES if name not in values]
        if missing:
            raise ValueError(f"meta-features lack {missing}; expected keys {list(FEATURE_NAMES)}")
        return cls(
            n_channels=int(values["n_channels"]),
            n_classes=int(values["n_classes"]),
            n_train=int(values["n_train"]),
            resolution=int(values["resolution"]),
            variable_size=bool(values.get("variable_size", False)),
        )


def compute(train: ImageDataset, seed: int = 0, max_headers: int = MAX_HEADERS) -> MetaFeatures:
    """Meta-features of a training split: headers only, at most `max_headers` of them (seeded sample)."""
    if not isinstance(train, ImageDataset):
        raise ConfigError(f"meta-features are computed on a dataset (zap.load_dataset gives one), got a "
                          f"{type(train).__name__}")
    check_range("seed", seed, 0, MAX_SEED, integer=True)
    check_range("max_headers", max_headers, 1, integer=True)
    n = len(train)
    if n == 0:
        raise ConfigError("the training split holds no images: meta-features describe at least one")
    rng = np.random.default_rng(seed)
    sample = np.arange(n) if n <= max_headers else np.sort(rng.choice(n, size=max_headers, replace=False))
    headers = [train.header(int(i)) for i in sample]
    heights = np.array([h.height for h in headers])
    sizes = {(h.height, h.width) for h in headers}
    return MetaFeatures(
        n_channels=int(train.n_channels),
        n_classes=int(train.n_classes),
        n_train=int(n),
        resolution=int(np.median(heights)) if len(heights) else 0,
        variable_size=len(sizes) > 1,
    )


__all__ = ["FEATURE_NAMES", "MAX_HEADERS", "MetaFeatures", "compute"]
