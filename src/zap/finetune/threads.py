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
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "QUOTA PERIOD" or "max PERIOD"
CGROUP_V1_QUOTA = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


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


def cpu_quota(v2: Path = CGROUP_CPU_MAX, v1: tuple[Path, Path] = CGROUP_V1_QUOTA) -> int | None:
    """The whole cores a container's CPU quota allows (rounded up), or None where there is no quota: in a
    container started with `--cpus 2` on a 64-core host, every core is in the affinity set, but more than two
    busy threads are throttled."""
    try:
        quota, period = v2.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota, period = v1[0].read_text().strip(), v1[1].read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1") or not quota.lstrip("-").isdigit() or not period.isdigit() or int(period) <= 0:
        return None
    return max(1, math.ceil(int(quota) / int(period))) if int(quota) > 0 else None


def _cpu_jiffies(cores: set[int], stat: Path) -> dict[int, tuple[int, int]] | None:
    """(busy, total) clock ticks since boot for each of `cores`, or None where /proc/stat cannot be read.
    Idle and I/O wait count as free; steal counts as busy, since a hypervisor's other guest had the core."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    ticks = {}
    for line in lines:
        name, *fields = line.split() or [""]
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores and len(fields) >= 8:
            # user nice system idle iowait irq softirq steal; guest and guest_nice are inside user and nice
            values = [int(v) for v in fields[:8]]
            ticks[int(name[3:])] = (sum(values) - values[3] - values[4], sum(values))
    # a core without its line (a container that renumbers them): a partial sum would read as idle
    return ticks if ticks.keys() == cores else None


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
    after = _cpu_jiffies(cores, stat)
    return None if after is None else busy_between(before, after)


def busy_between(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> float:
    """The busy share of each core between two (busy, total) tick readings, summed over the cores. Each
    share is held to [0, 1]: a core's I/O-wait ticks may go backwards (proc(5)), which can shrink its total."""
    busy = 0.0
    for core, (busy_after, total_after) in after.items():
        busy_before, total_before = before.get(core, (busy_after, total_after))
        if total_after > total_before:
            busy += min(1.0, max(0.0, (busy_after - busy_before) / (total_after - total_before)))
    return busy


@dataclass(frozen=True)
class ThreadChoice:
    """The torch threads of a run, and what zap saw where it chose them."""

    threads: int
    cores: int
    busy_cores: float | None
    rule: str

    def to_dict(self) -> dict:
        return {"threads": self.threads, "cores": self.cores,
                "busy_cores": None if self.busy_cores is None else round(self.busy_cores, 2), "rule": self.rule}


FREE_CORES = ("one per core this process may use (within a container's CPU quota), less the cores other work "
              "kept busy (its busy share summed over them, rounded), at least one")
EVERY_CORE = "every core this process may use (within a container's CPU quota), whatever the load"


def choose_threads(sampler: Callable[[], float | None] | None = None) -> ThreadChoice:
    """One thread for each core that other work leaves free, at least one, and no more than a container's CPU
    quota allows. Torch's threads meet at a barrier after each operation, so a thread that shares its core with
    another process holds all of them back: beside busy processes, two threads on two cores train slower than
    one (benchmarks/threads_under_load.py). The busy share of the cores is summed and rounded: 0.6 of a core
    busy costs a thread, 0.4 does not. The load is read over every core the process may run on, the quota
    caps what is left: in a 4-CPU container on a 64-core host, 10 busy host cores leave it its 4."""
    allowed, usable = len(allowed_cores()), usable_cores()
    if usable == 1:
        return ThreadChoice(1, 1, None, FREE_CORES)
    busy = (sampler or busy_cores)()
    free = allowed if busy is None else allowed - math.floor(busy + 0.5)
    return ThreadChoice(max(1, min(usable, free)), usable, busy, FREE_CORES)


def every_core() -> ThreadChoice:
    """Every usable core, not sampled: for runs whose numbers must not depend on the machine's load."""
    cores = usable_cores()
    return ThreadChoice(cores, cores, None, EVERY_CORE)


def usable_cores() -> int:
    """The cores this process may run on, capped by a container's CPU quota."""
    cores, quota = len(allowed_cores()), cpu_quota()
    return cores if quota is None else max(1, min(cores, quota))


def fewer_threads_note(choice: dict | None) -> str | None:
    """What to tell the user when zap ran fewer threads than it has cores because other work kept them busy,
    from a summary's `threads_choice`; None otherwise."""
    if not choice or choice.get("busy_cores") is None or choice["threads"] >= choice["cores"]:
        return None
    return (f"{choice['threads']} torch thread(s) on {choice['cores']} cores: other work kept "
            f"{choice['busy_cores']:g} cores busy at the start (--threads N sets the count)")
