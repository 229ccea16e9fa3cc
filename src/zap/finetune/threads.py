"""Torch's thread count: set for a block and restored, and, where the user names none, chosen from the cores
that other work leaves free."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BUSY_SAMPLE_SECONDS = 0.25
PROC_STAT = Path("/proc/stat")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Set torch's intra-op threads for a block and restore the previous count: no thread setting leaks
    out of a run or a selector's training into the caller."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def allowed_cores() -> set[int]:
    """The cores this process may run on (all of them where the OS cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def _cpu_jiffies(cores: set[int], stat: Path) -> dict[int, tuple[int, int]] | None:
    """(busy, total) clock ticks since boot for each of `cores`, or None where /proc/stat cannot be read.
    Idle and I/O wait count as free; steal counts as busy, since a hypervisor's other guest had the core."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    ticks = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores and len(fields) >= 8:
            values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            ticks[int(name[3:])] = (sum(values) - values[3] - values[4], sum(values))
    return ticks or None


def busy_cores(seconds: float = BUSY_SAMPLE_SECONDS, cores: set[int] | None = None,
               stat: Path = PROC_STAT) -> float | None:
    """How many of `cores` (this process's, by default) other work kept busy over the next `seconds`, in
    cores (0.0 idle, len(cores) all busy); None where the OS does not report it. This process sleeps while
    it samples, so its own use does not count."""
    cores = allowed_cores() if cores is None else cores
    before = _cpu_jiffies(cores, stat)
    if before is None:
        return None
    time.sleep(seconds)
    return busy_between(before, _cpu_jiffies(cores, stat) or {})


def busy_between(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> float:
    """The busy share of each core between two (busy, total) tick readings, summed over the cores."""
    busy = 0.0
    for core, (busy_after, total_after) in after.items():
        busy_before, total_before = before.get(core, (busy_after, total_after))
        if total_after > total_before:
            busy += (busy_after - busy_before) / (total_after - total_before)
    return busy


@dataclass(frozen=True)
class ThreadChoice:
    """The torch threads zap chose for a run that names none, and what it saw."""

    threads: int
    cores: int
    busy_cores: float | None

    def to_dict(self) -> dict:
        return {"threads": self.threads, "cores": self.cores,
                "busy_cores": None if self.busy_cores is None else round(self.busy_cores, 2),
                "rule": "the cores this process may use, less those other work kept busy (at least one)"}


def choose_threads(sampler: Callable[[], float | None] | None = None) -> ThreadChoice:
    """One thread for each core that other work leaves free, at least one. Torch's threads meet at a barrier
    after each operation, so a thread that shares its core with another process holds all of them back:
    beside two busy processes on two cores, two threads train slower than one (benchmarks/threads_under_load.py).
    A core counts as busy when other work had it at least half of the sampled time."""
    cores = len(allowed_cores())
    if cores == 1:
        return ThreadChoice(1, 1, None)
    busy = (sampler or busy_cores)()
    free = cores if busy is None else cores - math.floor(busy + 0.5)
    return ThreadChoice(max(1, min(cores, free)), cores, busy)
