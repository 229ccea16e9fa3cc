"""Benchmarks of the selectors: ASlib algorithm-selection scenarios (`aslib`)."""
