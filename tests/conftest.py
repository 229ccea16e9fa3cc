"""Shared fixtures: tiny real image folders and arrays written with PIL/numpy, and fast pipelines."""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]  # the checkout
# v1 by path, for tests that hold its own figures: the zap home may ship a later meta-dataset
V1_ARTIFACT = ROOT / "artifacts" / "metadataset" / "v1.json.gz"
V1_PLAN = ROOT / "metadataset" / "v1"

# A pipeline that trains in a fraction of a second per step at 32 px: for runner and CLI tests.
FAST_CONFIG = {
    "architecture": "mobilenetv2", "optimizer": "Adam", "lr": 1e-3, "log2_max_size": 5, "batch_size": 16,
    "augmentation": "crop", "eval_first_frac": 0.1, "eval_gap_step_frac": 0.05, "eval_gap_max_frac": 0.2,
    "steps_per_epoch": 5, "warm_up_epoch": 3,
}


def pattern(label: int, index: int, size: int = 16) -> np.ndarray:
    """A class-specific stripe pattern with per-image noise: easy to learn, never two equal images."""
    rng = np.random.default_rng(1000 * label + index)
    yy, xx = np.mgrid[0:size, 0:size]
    base = 255.0 * (((xx + label * yy) // 3) % 2)
    return np.clip(base * 0.8 + rng.normal(0, 20, (size, size)) + 25, 0, 255).astype(np.uint8)


def write_folder(root: Path, n_classes: int = 3, per_class: int = 8, size: int = 16, mode: str = "L") -> Path:
    for label in range(n_classes):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = Image.fromarray(pattern(label, i, size))
            img.convert(mode).save(folder / f"img_{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "data")


@pytest.fixture
def arrays() -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([pattern(label, i) for label in range(3) for i in range(10)])
    y = np.repeat(np.arange(3), 10)
    return x, y


PRICED_ARCHS = ("mobilenetv2", "efficientnet_lite0")


def injected_table(step_image: float = 0.01, step_fixed: float = 0.05):
    """Hand-made prices: per image cost quadruples from 32 to 64 px (pixels), freezing half saves half."""
    row = [[step_fixed, step_image], [step_fixed, 4 * step_image]]
    half = [[step_fixed, step_image / 2], [step_fixed, 2 * step_image]]
    from zap.finetune.refclock import CostTable

    return CostTable(sizes=(32, 64), freezes=(0.0, 0.5), step={a: [row, half] for a in PRICED_ARCHS},
                     predict={a: [0.001, 0.004] for a in PRICED_ARCHS}, decode=(1e-4, 0.0),
                     quick_fit={n: [math.log(0.1), 0.0, 0.0] for n in ("SVC", "NuSVC", "RF", "LR")},
                     quick_predict={n: 1e-4 for n in ("SVC", "NuSVC", "RF", "LR")})


@contextmanager
def benchmark_script(name: str) -> Iterator:
    """A script of benchmarks/ imported as a module, as when run: its neighbours (`common`, ...) are
    top-level modules there, so the folder is on the path while it is used."""
    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(folder)
