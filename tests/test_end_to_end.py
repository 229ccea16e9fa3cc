"""Slow end-to-end checks that CI runs too: the demo's promise and the README's examples."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = readme_blocks("python")
    assert blocks, "the README has Python examples"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


@pytest.mark.slow
def test_readme_console_examples_run():
    commands = [line.strip() for block in readme_blocks("console") for line in block.splitlines()
                if line.strip().startswith("zap ")]
    assert commands
    zap = str(Path(sys.executable).parent / "zap")
    for command in commands:
        out = subprocess.run(zap + command[3:], shell=True, cwd=README.parent, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, f"{command}\n{out.stderr[-2000:]}"


@pytest.mark.slow
def test_fit_digits_on_the_cpu_clock_reaches_high_accuracy(tmp_path):
    """The demo's promise, on the load-insensitive clock so a busy CI machine cannot fail it."""
    from zap import ZAP

    model = ZAP(budget=40, clock="cpu").fit("digits")
    summary = model.summary()
    assert summary["accuracy"] >= 0.9 and summary["alc"] > 0.5
    assert summary["elapsed_s"] <= 40 * 1.05
