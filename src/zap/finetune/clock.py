"""Budgets and the clocks that measure them.

Users give wall-clock seconds (as in AutoDL). Meta-dataset v1 used the CPU time of the task's own
thread (`time.thread_time`); v2 uses reference seconds (`ref`, see `refclock`): each operation is charged
its cost on the reference machine, so a budget is a fixed amount of compute under any load. A step
budget makes runs exactly repeatable for tests. All four are always recorded (`ref` where a cost table
prices the architecture).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from zap.errors import ConfigError

CLOCKS = ("wall", "cpu", "steps", "ref")


@dataclass(frozen=True)
class Budget:
    """How long a run may take: `amount` seconds of wall, thread-CPU or reference time, or optimizer steps."""

    amount: float
    clock: str = "wall"

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise ConfigError(f"unknown budget clock {self.clock!r}; use one of {CLOCKS}")
        if not (self.amount > 0 and math.isfinite(self.amount)):
            raise ConfigError(f"the budget must be a positive finite number, got {self.amount!r}")


class Stopwatch:
    """Elapsed wall, thread-CPU, reference time and steps since `start()`, and the budget clock among them.

    `wall_fn`/`cpu_fn` can be injected, so budget logic is testable without waiting. Reference time
    moves only by `charge`: the runner prices each operation it performs.
    """

    def __init__(
        self,
        budget: Budget,
        wall_fn: Callable[[], float] = time.perf_counter,
        cpu_fn: Callable[[], float] = time.thread_time,
    ):
        self.budget = budget
        self._wall_fn, self._cpu_fn = wall_fn, cpu_fn
        self.steps = 0
        self.start()

    def start(self) -> None:
        self._wall0, self._cpu0 = self._wall_fn(), self._cpu_fn()
        self.steps = 0
        self.ref = 0.0

    def charge(self, ref_seconds: float) -> None:
        """Advance the reference clock by what an operation costs on the reference machine."""
        self.ref += ref_seconds

    @property
    def wall(self) -> float:
        return self._wall_fn() - self._wall0

    @property
    def cpu(self) -> float:
        return self._cpu_fn() - self._cpu0

    def elapsed(self) -> float:
        """Time used so far on the budget's own clock."""
        clock = self.budget.clock
        if clock == "steps":
            return float(self.steps)
        if clock == "ref":
            return self.ref
        return self.wall if clock == "wall" else self.cpu

    def remaining(self) -> float:
        return self.budget.amount - self.elapsed()

    def fraction(self) -> float:
        return min(1.0, self.elapsed() / self.budget.amount)
