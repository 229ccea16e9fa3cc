"""The learning curve: the one table that passes from fine-tuning to scoring."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# ref_s is last: records written before the reference clock existed have the first five columns only
COLUMNS: tuple[str, ...] = ("wall_s", "cpu_s", "steps", "nauc", "accuracy", "ref_s")
CLOCK_COLUMN = {"wall": "wall_s", "cpu": "cpu_s", "steps": "steps", "ref": "ref_s"}


@dataclass
class LearningCurve:
    """One row per test-set prediction: when it was made (every clock) and how good it was; `ref_s` is NaN
    where no cost table priced the run."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def add(self, wall_s: float, cpu_s: float, steps: int, nauc: float, accuracy: float,
            ref_s: float = math.nan) -> None:
        self.rows.append(
            {"wall_s": float(wall_s), "cpu_s": float(cpu_s), "steps": int(steps),
             "nauc": float(nauc), "accuracy": float(accuracy), "ref_s": float(ref_s)}
        )

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        if name not in COLUMNS:
            raise KeyError(f"unknown curve column {name!r}; columns are {COLUMNS}")
        return np.array([row[name] for row in self.rows], dtype=float)

    def times(self, clock: str) -> np.ndarray:
        if clock not in CLOCK_COLUMN:
            raise ValueError(f"unknown clock {clock!r}; use one of {sorted(CLOCK_COLUMN)}")
        return self.column(CLOCK_COLUMN[clock])

    def until(self, clock: str, t: float) -> LearningCurve:
        """The predictions made by `t` on `clock`: all that a run whose budget was t has to show."""
        return LearningCurve([dict(row) for row, time in zip(self.rows, self.times(clock), strict=True) if time <= t])

    @property
    def final_nauc(self) -> float:
        return self.rows[-1]["nauc"] if self.rows else 0.0

    @property
    def final_accuracy(self) -> float:
        return self.rows[-1]["accuracy"] if self.rows else 0.0

    @classmethod
    def from_records(cls, records: list[dict]) -> LearningCurve:
        curve = cls()
        for r in records:
            curve.add(r["wall_s"], r["cpu_s"], int(r["steps"]), r["nauc"], r["accuracy"], r.get("ref_s", math.nan))
        return curve

    def to_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)

    @classmethod
    def from_csv(cls, path: str | Path) -> LearningCurve:
        with open(path, newline="") as handle:
            return cls.from_records([{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)])
