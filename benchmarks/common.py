"""What the measuring scripts in `benchmarks/` share: run measurements in parallel processes, keep them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from zap.utils import atomic_write_json


def measure_all(measure: Callable[[Any], dict], tasks: Iterable[Any], jobs: int) -> list[dict]:
    """Each task in its own process slot, so `jobs` measurements run side by side and no torch thread
    setting of one leaks into another."""
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(measure, tasks))


def save_rows(rows: list[dict], path: str | None) -> None:
    if path:
        atomic_write_json(path, rows)
