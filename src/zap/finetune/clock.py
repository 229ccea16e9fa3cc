"""Budgets and the clocks that measure them.

Users give wall-clock seconds (as in AutoDL). The meta-dataset uses the CPU time of the task's own
thread (`time.thread_time`), which other load on a shared machine bends far less. A step budget makes
runs exactly repeatable for tests. All three are always recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

CLOCKS = ("wall", "cpu", "steps")


@dataclass(frozen=True)
class Budget:
    """How long a run may take: `amount` seconds of wall or thread-CPU time, or optimizer steps."""

    amount: float
    clock: str = "wall"

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise ValueError(f"unknown budget clock {self.clock!r}; use one of {CLOCKS}")
        if not self.amount > 0:
            raise ValueError(f"the budget must be positive, got {self.amount!r}")


class Stopwatch:
    """Elapsed wall, thread-CPU and step counts since `start()`, and the budget clock among them.

    `wall_fn`/`cpu_fn` can be injected, so budget logic is testable without waiting.
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

    @property
    def wall(self) -> float:
        return self._wall_fn() - self._wall0

    @property
    def cpu(self) -> float:
        return self._cpu_fn() - self._cpu0

    def elapsed(self) -> float:
        """Time used so far on the budget's own clock."""
        if self.budget.clock == "steps":
            return float(self.steps)
        return self.wall if self.budget.clock == "wall" else self.cpu

    def remaining(self) -> float:
        return self.budget.amount - self.elapsed()

    def fraction(self) -> float:
        return min(1.0, self.elapsed() / self.budget.amount)
