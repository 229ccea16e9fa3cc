"""Where a run names no thread count, zap takes one per core that other work leaves free."""

from __future__ import annotations

import pytest

from zap.finetune import threads as zthreads
from zap.finetune.threads import ThreadChoice, busy_between, busy_cores, choose_threads

STAT = """cpu  400 0 100 1400 100 0 0 0 0 0
cpu0 100 0 50 800 50 0 0 0 0 0
cpu1 300 0 50 600 50 0 0 0 0 0
cpu2 0 0 0 1000 0 0 0 0 0 0
intr 12345
"""


def test_busy_share_is_read_per_core_with_idle_and_io_wait_free_and_steal_busy():
    before = {0: (100, 1000), 1: (500, 1000)}
    after = {0: (150, 1100), 1: (600, 1100), 2: (5, 10)}  # core 2 has no earlier reading: not counted
    assert busy_between(before, after) == pytest.approx(0.5 + 1.0)
    assert busy_between(before, {0: (100, 1000)}) == 0.0  # no ticks passed: nothing known, nothing busy


def test_busy_cores_reads_only_this_process_cores_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    assert zthreads._cpu_jiffies({0, 1}, stat) == {0: (150, 1000), 1: (350, 1000)}
    steal = STAT.replace("cpu2 0 0 0 1000 0 0 0 0", "cpu2 0 0 0 1000 0 0 0 40")
    stat.write_text(steal)
    assert zthreads._cpu_jiffies({2}, stat) == {2: (40, 1040)}
    assert busy_cores(0.0, {0, 1}, stat) == 0.0  # the file did not move between the two readings
    assert busy_cores(0.0, {0}, tmp_path / "missing") is None
    assert busy_cores(0.0, {7}, stat) is None  # no line for that core


def test_busy_cores_on_this_machine_is_a_share_of_its_cores():
    busy = busy_cores(0.05)
    if busy is None:
        pytest.skip("this OS reports no per-core times")
    assert 0.0 <= busy <= len(zthreads.allowed_cores()) + 1e-9


@pytest.mark.parametrize(("busy", "threads"), [(0.0, 8), (0.4, 8), (0.6, 7), (2.0, 6), (7.6, 1), (8.0, 1),
                                                (None, 8)])
def test_one_thread_per_free_core_and_at_least_one(monkeypatch, busy, threads):
    monkeypatch.setattr(zthreads, "allowed_cores", lambda: set(range(8)))
    choice = choose_threads(lambda: busy)
    assert choice == ThreadChoice(threads, 8, busy)
    assert choice.to_dict()["threads"] == threads and "rule" in choice.to_dict()


def test_a_single_core_takes_one_thread_without_sampling(monkeypatch):
    monkeypatch.setattr(zthreads, "allowed_cores", lambda: {0})
    assert choose_threads(lambda: pytest.fail("sampled a single core")) == ThreadChoice(1, 1, None)


def test_fit_tune_and_suggest_share_the_rule_and_record_it(monkeypatch):
    from zap.api import resolve_threads

    monkeypatch.setattr(zthreads, "allowed_cores", lambda: {0, 1})
    monkeypatch.setattr(zthreads, "busy_cores", lambda: 1.9)
    assert resolve_threads(None, "wall")[0] == 1 and resolve_threads(None, "ref")[1]["busy_cores"] == 1.9
    monkeypatch.setattr(zthreads, "busy_cores", lambda: 0.1)
    assert resolve_threads(None, "wall")[0] == 2
    assert resolve_threads(3, "wall") == (3, None)  # named: kept, and nothing sampled or recorded
    assert resolve_threads(None, "cpu")[0] == 1
