"""Slow end-to-end checks that CI runs too: the demo's promise. (The README's examples: test_readme.py.)"""

import pytest


@pytest.mark.slow
def test_fit_digits_on_the_cpu_clock_reaches_high_accuracy(tmp_path):
    """The demo's promise, on the load-insensitive clock so a busy CI machine cannot fail it."""
    from zap import ZAP

    model = ZAP(budget=40, clock="cpu").fit("digits")
    summary = model.summary()
    assert summary["accuracy"] >= 0.9 and summary["alc"] > 0.5
    assert summary["elapsed_s"] <= 40 * 1.05
