"""docs/bad_input.md promises a test for every kind of bad input it lists: every test it names must exist,
so a renamed or deleted test cannot leave the catalogue claiming coverage it no longer has."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _named_tests(text: str) -> list[tuple[str, str]]:
    """(test file stem, test name) for every `file::name` and `::name` (same file as before) in the text."""
    named, current = [], None
    for match in re.finditer(r"(test_\w+)?::(test_\w+)", text):
        current = match.group(1) or current
        named.append((current, match.group(2)))
    return named


def test_every_test_the_bad_input_catalogue_names_exists():
    text = (ROOT / "docs" / "bad_input.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) >= 40
    named = _named_tests(text)
    assert len(named) >= 40
    missing = [f"{stem}::{name}" for stem, name in named
               if not re.search(rf"^def {name}\(", (ROOT / "tests" / f"{stem}.py").read_text(), re.M)]
    assert not missing, missing
