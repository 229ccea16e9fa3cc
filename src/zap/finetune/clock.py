"""Budgets and the clocks that measure them.

Users give wall-clock seconds (as in AutoDL). Meta-dataset v1 used the CPU time of the task's own
thread (`time.thread_time`); v2 uses reference seconds (`ref`, see `refclock`): each operation is charged
its cost on the reference machine, so a budget is a fixed amount of compute under any load. A step
budget makes runs exactly repeatable for tests. All four are always recorded (`ref` where a cost table
prices the architecture).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zap.errors import ConfigError

CLOCKS = ("wall", "cpu", "steps", "ref")
# The most a user's budget may be: a week of seconds, or ten million steps. A larger one is a typo (1e12) that
# would otherwise run until killed.
MAX_BUDGET_S = 7 * 24 * 3600
MAX_STEPS = 10_000_000


def check_budget(amount: Any, clock: str) -> None:
    """Refuse a budget a user cannot have meant, naming the value and the range, before any data is read.

    `Budget` itself refuses only what cannot run (internal callers use a huge step budget as "no limit");
    this is the stricter check of what users give: a finite number of seconds in (0, MAX_BUDGET_S], or a
    whole number of steps in [1, MAX_STEPS]. Booleans and strings are no budget.
    """
    if clock not in CLOCKS:
        raise ConfigError(f"clock must be one of {CLOCKS}, got {clock!r}")
    number = isinstance(amount, numbers.Real) and not isinstance(amount, bool) and math.isfinite(amount)
    if clock == "steps":
        if not (number and float(amount).is_integer() and 1 <= amount <= MAX_STEPS):
            raise ConfigError(f"budget must be a whole number of steps in [1, {MAX_STEPS}], got {amount!r}")
    elif not (number and 0 < amount <= MAX_BUDGET_S):
        raise ConfigError(f"budget must be a positive finite number of {clock} seconds, at most {MAX_BUDGET_S} "
                          f"(7 days), got {amount!r}")


@dataclass(frozen=True)
class Budget:
    """How long a run may take: `amount` seconds of wall, thread-CPU or reference time, or optimizer steps."""

    amount: float
    clock: str = "wall"

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise ConfigError(f"unknown budget clock {self.clock!r}; use one of {CLOCKS}")
        number = isinstance(self.amount, numbers.Real) and not isinstance(self.amount, bool)
        if not (number and self.amount > 0 and math.isfinite(self.amount)):
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
        self._paused_at: tuple[float, float] | None = None

    def pause(self) -> None:
        """Stop the wall and CPU clocks (a run set aside while another one trains: freeze-thaw)."""
        if self._paused_at is None:
            self._paused_at = (self._wall_fn(), self._cpu_fn())

    def resume(self) -> None:
        """Go on from where `pause` stopped: the time set aside is not this run's."""
        if self._paused_at is not None:
            wall, cpu = self._paused_at
            self._wall0 += self._wall_fn() - wall
            self._cpu0 += self._cpu_fn() - cpu
            self._paused_at = None

    def charge(self, ref_seconds: float) -> None:
        """Advance the reference clock by what an operation costs on the reference machine."""
        self.ref += ref_seconds

    @property
    def wall(self) -> float:
        now = self._wall_fn() if self._paused_at is None else self._paused_at[0]
        return now - self._wall0

    @property
    def cpu(self) -> float:
        now = self._cpu_fn() if self._paused_at is None else self._paused_at[1]
        return now - self._cpu0

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
