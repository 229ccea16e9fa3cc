"""What the measuring scripts in `benchmarks/` share: run measurements in parallel processes, keep them."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from zap.utils import atomic_write_json

ASSETS = Path(__file__).resolve().parents[1] / "src" / "zap" / "assets"  # the bundled photos


def measure_all(measure: Callable[[Any], dict], tasks: Iterable[Any], jobs: int) -> list[dict]:
    """Each task in its own process slot, so `jobs` measurements run side by side and no torch thread
    setting of one leaks into another."""
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(measure, tasks))


def save_rows(rows: list[dict], path: str | None) -> None:
    if path:
        atomic_write_json(path, rows)


def photo_at(picture: Image.Image, megapixels: float) -> Image.Image:
    """`picture` as a camera's photo of about `megapixels`: RGB, 4:3, resized bicubically."""
    width = round(math.sqrt(megapixels * 1e6 * 4 / 3))
    return picture.convert("RGB").resize((width, width * 3 // 4), Image.Resampling.BICUBIC)
