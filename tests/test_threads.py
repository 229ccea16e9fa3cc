"""Where a run names no thread count: on the wall clock one per core that other work leaves free; on the ref and
steps clocks every core, so a seed gives the same numbers whatever the load."""

from __future__ import annotations

import pytest

from zap.finetune import threads as zthreads
from zap.finetune.threads import (
    ThreadChoice,
    busy_between,
    busy_cores,
    choose_threads,
    cpu_quota,
    fewer_threads_note,
)

# user nice system idle iowait irq softirq steal guest guest_nice: guest time is already inside user and nice
STAT = """cpu  400 0 100 1400 100 0 0 0 0 0
cpu0 100 0 50 800 50 0 0 0 70 0
cpu1 300 0 50 600 50 0 0 0 0 30
cpu2 0 0 0 1000 0 0 0 0 0 0
intr 12345
"""


def test_busy_share_is_read_per_core_with_idle_and_io_wait_free_and_steal_busy(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    assert zthreads._cpu_jiffies({0, 1}, stat) == {0: (150, 1000), 1: (350, 1000)}  # guest not counted twice
    stat.write_text(STAT.replace("cpu2 0 0 0 1000 0 0 0 0", "cpu2 0 0 0 1000 0 0 0 40"))
    assert zthreads._cpu_jiffies({2}, stat) == {2: (40, 1040)}  # a hypervisor's other guest had the core
    assert zthreads._cpu_jiffies({0, 7}, stat) is None  # a core without its line: no partial sum read as idle


def test_busy_shares_are_summed_over_cores_and_each_held_to_one():
    before = {0: (100, 1000), 1: (500, 1000)}
    assert busy_between(before, {0: (150, 1100), 1: (600, 1100)}) == pytest.approx(0.5 + 1.0)
    assert busy_between(before, {0: (100, 1000), 1: (500, 1000)}) == 0.0  # no ticks passed
    assert busy_between(before, {0: (300, 1100), 1: (400, 1100)}) == pytest.approx(1.0)  # counters that jump


def test_busy_cores_says_none_where_the_os_cannot_tell(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    assert busy_cores(0.0, {0, 1}, stat) == 0.0  # the file did not move between the two readings
    assert busy_cores(0.0, {0}, tmp_path / "missing") is None
    assert busy_cores(0.0, {7}, stat) is None
    readings = iter([STAT, ""])  # the second reading fails: unknown, not idle
    monkeypatch.setattr(type(stat), "read_text", lambda self: next(readings))
    assert busy_cores(0.0, {0, 1}, stat) is None


def test_busy_cores_on_this_machine_is_a_share_of_its_cores():
    busy = busy_cores(0.05)
    if busy is None:
        pytest.skip("this OS reports no per-core times")
    assert 0.0 <= busy <= len(zthreads.allowed_cores())


@pytest.mark.parametrize(("busy", "threads"), [(0.0, 8), (0.4, 8), (0.49, 8), (0.51, 7), (2.0, 6), (7.6, 1),
                                                (8.0, 1), (None, 8)])
def test_one_thread_per_free_core_and_at_least_one(monkeypatch, busy, threads):
    monkeypatch.setattr(zthreads, "allowed_cores", lambda: set(range(8)))
    monkeypatch.setattr(zthreads, "cpu_quota", lambda: None)
    choice = choose_threads(lambda: busy)
    assert (choice.threads, choice.cores, choice.busy_cores) == (threads, 8, busy)
    assert choice.to_dict()["threads"] == threads and "rule" in choice.to_dict()


def test_a_single_core_takes_one_thread_without_sampling(monkeypatch):
    monkeypatch.setattr(zthreads, "allowed_cores", lambda: set(range(1)))
    monkeypatch.setattr(zthreads, "cpu_quota", lambda: None)
    assert choose_threads(lambda: pytest.fail("sampled a single core")).threads == 1


def test_a_containers_cpu_quota_caps_the_cores(tmp_path, monkeypatch):
    v2 = tmp_path / "cpu.max"
    v1 = (tmp_path / "quota", tmp_path / "period")
    assert cpu_quota(v2, v1) is None  # no cgroup files: no quota
    v2.write_text("max 100000\n")
    assert cpu_quota(v2, v1) is None
    v2.write_text("150000 100000\n")
    assert cpu_quota(v2, v1) == 2  # 1.5 CPUs: two threads, the second one half-throttled
    v2.unlink()
    v1[0].write_text("-1\n")
    v1[1].write_text("100000\n")
    assert cpu_quota(v2, v1) is None
    v1[0].write_text("400000\n")
    assert cpu_quota(v2, v1) == 4
    monkeypatch.setattr(zthreads, "allowed_cores", lambda: set(range(64)))
    monkeypatch.setattr(zthreads, "cpu_quota", lambda: 4)
    assert zthreads.usable_cores() == 4 and zthreads.every_core().threads == 4
    assert choose_threads(lambda: 10.0).threads == 4  # busy host cores elsewhere leave the container its quota
    assert choose_threads(lambda: 62.0).threads == 2


def test_the_user_is_told_only_when_zap_took_fewer_threads_than_cores():
    assert fewer_threads_note(None) is None
    assert fewer_threads_note(ThreadChoice(2, 2, 0.1, "r").to_dict()) is None
    assert fewer_threads_note(ThreadChoice(4, 4, None, "r").to_dict()) is None
    note = fewer_threads_note(ThreadChoice(1, 2, 1.93, "r").to_dict())
    assert note.startswith("1 torch thread(s) on 2 cores") and "1.93" in note and "--threads N" in note


def test_fit_tune_and_suggest_share_the_rule_and_record_it(monkeypatch):
    from zap.api import resolve_threads

    monkeypatch.setattr(zthreads, "allowed_cores", lambda: set(range(2)))
    monkeypatch.setattr(zthreads, "cpu_quota", lambda: None)
    monkeypatch.setattr(zthreads, "busy_cores", lambda: 1.9)
    threads, choice = resolve_threads(None, "wall")
    assert threads == choice["threads"] == 1 and choice["busy_cores"] == 1.9 and choice["cores"] == 2
    monkeypatch.setattr(zthreads, "busy_cores", lambda: 0.1)
    assert resolve_threads(None, "wall")[0] == 2
    assert resolve_threads(3, "wall") == (3, None)  # named: kept, and nothing sampled or recorded
    assert resolve_threads(None, "cpu")[0] == 1


@pytest.mark.parametrize("clock", ["ref", "steps"])
def test_runs_that_promise_the_same_numbers_for_a_seed_do_not_follow_the_load(monkeypatch, clock):
    """The thread count changes a run's floating-point sums, so a ref or steps run takes every core."""
    from zap.api import resolve_threads

    monkeypatch.setattr(zthreads, "allowed_cores", lambda: set(range(2)))
    monkeypatch.setattr(zthreads, "cpu_quota", lambda: None)
    monkeypatch.setattr(zthreads, "busy_cores", lambda: pytest.fail("sampled the load"))
    threads, choice = resolve_threads(None, clock)
    assert threads == 2 and choice["busy_cores"] is None and "whatever the load" in choice["rule"]


def test_the_benchmark_times_each_thread_count_under_the_load_it_makes():
    """benchmarks/threads_under_load.py: one busy loop of its own, one real training step a setting."""
    import argparse

    from conftest import benchmark_script

    with benchmark_script("threads_under_load") as bench:
        args = argparse.Namespace(threads=[1], policies=["default"], steps=1, repeats=1,
                                  architecture="mobilenetv2", size=32)
        rows = bench.under_load(1, args)
    assert [(r["load"], r["threads"], r["policy"]) for r in rows] == [(1, 1, "default")]
    assert all(r["s_per_step"] > 0 for r in rows) and rows[0]["speed_vs_1_default"] == 1.0
    assert rows[0]["busy_cores_seen"] is None or rows[0]["busy_cores_seen"] >= 0.5  # its own busy loop is seen
