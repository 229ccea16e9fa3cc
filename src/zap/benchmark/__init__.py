"""Benchmarks of the selectors: leave-one-core-out on a meta-dataset (`loco`, run by `run_protocols`), its
statistics and report, and ASlib algorithm-selection scenarios (`aslib`)."""

from zap.benchmark.driver import BenchmarkOptions, BenchmarkResult, run_protocols

__all__ = ["BenchmarkOptions", "BenchmarkResult", "run_protocols"]
