"""benchmarks/selection_latency.py times the shipped selectors: it must rank with the input they were trained
on (on v2, the log budget after the four meta-features), or the README's latency row cannot be re-measured."""

from __future__ import annotations

from conftest import benchmark_script
from zap.selectors.trained import TRAINABLE, selector_path, selectors_dir


def test_every_shipped_selector_is_timed_on_the_input_it_was_trained_on():
    with benchmark_script("selection_latency") as bench:
        folder = selectors_dir()
        names = [n for n in TRAINABLE if selector_path(n, folder).exists()]
        assert names, f"no shipped selectors in {folder}"
        for name in names:
            load_ms, samples = bench.time_decisions(selector_path(name, folder), 3)
            assert load_ms > 0 and len(samples) == 3 and all(s > 0 for s in samples)
